/* hg-filter.c: a compiled set of list entries
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Layout:
 *
 * - Exact names and wildcard suffixes each live in one open-addressing
 *   hash table (NameTable) keyed by the normalised name, so a lookup costs
 *   one probe for the name and at most one per parent suffix
 *   ("b.example.com", "example.com", "com"). A slot keeps the hash, the
 *   port set and the key pointer together, so a probe touches one slot and
 *   the key string.
 * - Addresses and ranges live in one hash table per family and prefix
 *   length, keyed by the address with the host bits cleared, so a lookup
 *   costs one probe per distinct prefix length present.
 * - The value of every key is a port set packed into one 32-bit integer
 *   (see PortSet below), so that a million entries cost little more than
 *   the tables and the key strings, which are kept in one string chunk.
 */
#include "config.h"

#include "hg-filter.h"
#include "hg-address.h"

#include <string.h>

/*
 * PortSet: which ports an entry is limited to, stored as a table value.
 *
 * Bit 30 (PORTS_ANY) means "any port". The low 30 bits are 0 for no
 * specific port, 1–65535 for exactly one port, or PORTS_LIST + i for the
 * i-th sorted array in HgFilter.port_lists. A missing key reads as 0, so a
 * stored value is never 0.
 */
typedef guint PortSet;

#define PORTS_ANY       (1u << 30)
#define PORTS_SPECIFIC  (PORTS_ANY - 1)
#define PORTS_LIST      (1u << 16)

#define IPV4_BITS 32
#define IPV6_BITS 128

typedef struct {
  GHashTable *tables[IPV6_BITS + 1];  /* NULL where no entry has that length */
  guint8 lengths[IPV6_BITS + 1];      /* lengths present, longest first */
  guint n_lengths;
  guint bits;
} AddressTables;

/* An open-addressing table with linear probing. A slot whose key is NULL
 * is empty. Keys are not owned: they live in HgFilter.keys. */
typedef struct {
  const char *key;
  guint32 hash;
  PortSet ports;
} NameSlot;

typedef struct {
  NameSlot *slots;
  gsize mask;     /* number of slots - 1, a power of two minus one */
  gsize count;
} NameTable;

#define NAME_TABLE_MIN_SLOTS 16

struct _HgFilter {
  gatomicrefcount ref_count;
  GStringChunk *keys;
  NameTable exact;        /* name → PortSet */
  NameTable wildcard;     /* suffix after "*." → PortSet */
  guint64 wildcard_labels[2]; /* bit n: some suffix has n labels */
  PortSet any;            /* "*", or 0 */
  AddressTables ipv4;     /* guint32 in host order → PortSet */
  AddressTables ipv6;     /* 16 bytes in keys → PortSet */
  GPtrArray *port_lists;  /* GArray of guint16, sorted */
  guint size;
};

static guint
ipv6_key_hash (gconstpointer key)
{
  const guint8 *bytes = key;
  guint32 hash = 2166136261u;
  guint i;

  for (i = 0; i < 16; i++)
    hash = (hash ^ bytes[i]) * 16777619u;

  return hash;
}

static gboolean
ipv6_key_equal (gconstpointer a,
                gconstpointer b)
{
  return memcmp (a, b, 16) == 0;
}

/* FNV-1a, then a multiply-xorshift finaliser so that the low bits used as
 * the slot index depend on every byte. */
static guint32
name_hash (const char *name)
{
  guint32 hash = 2166136261u;
  const char *p;

  for (p = name; *p != '\0'; p++)
    hash = (hash ^ (guchar) *p) * 16777619u;

  hash ^= hash >> 16;
  hash *= 0x85ebca6bu;
  hash ^= hash >> 13;
  return hash;
}

static void
name_table_init (NameTable *table)
{
  table->slots = g_new0 (NameSlot, NAME_TABLE_MIN_SLOTS);
  table->mask = NAME_TABLE_MIN_SLOTS - 1;
  table->count = 0;
}

static NameSlot *
name_table_find (const NameTable *table,
                 const char      *name,
                 guint32          hash)
{
  gsize i;

  for (i = hash & table->mask; table->slots[i].key != NULL; i = (i + 1) & table->mask)
    {
      if (table->slots[i].hash == hash && strcmp (table->slots[i].key, name) == 0)
        return &table->slots[i];
    }

  return NULL;
}

static NameSlot *
name_table_empty_slot (NameTable *table,
                       guint32    hash)
{
  gsize i;

  for (i = hash & table->mask; table->slots[i].key != NULL; i = (i + 1) & table->mask)
    ;

  return &table->slots[i];
}

/* Doubles the table once it is 70 % full, which keeps probe runs short. */
static void
name_table_grow_if_needed (NameTable *table)
{
  NameSlot *old_slots = table->slots;
  gsize old_size = table->mask + 1;
  gsize i;

  if ((table->count + 1) * 10 <= old_size * 7)
    return;

  table->slots = g_new0 (NameSlot, old_size * 2);
  table->mask = old_size * 2 - 1;

  for (i = 0; i < old_size; i++)
    {
      if (old_slots[i].key != NULL)
        *name_table_empty_slot (table, old_slots[i].hash) = old_slots[i];
    }

  g_free (old_slots);
}

/**
 * hg_filter_new:
 *
 * Creates an empty filter, which matches nothing.
 *
 * Returns: (transfer full): the filter
 */
HgFilter *
hg_filter_new (void)
{
  HgFilter *filter = g_new0 (HgFilter, 1);

  g_atomic_ref_count_init (&filter->ref_count);
  filter->keys = g_string_chunk_new (4096);
  name_table_init (&filter->exact);
  name_table_init (&filter->wildcard);
  filter->port_lists = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  filter->ipv4.bits = IPV4_BITS;
  filter->ipv6.bits = IPV6_BITS;

  return filter;
}

/**
 * hg_filter_ref:
 * @filter: a filter
 *
 * Adds a reference to @filter. From then on the filter is shared and
 * must not be changed: hg_filter_add() and friends reject it.
 *
 * Returns: (transfer full): @filter
 */
HgFilter *
hg_filter_ref (HgFilter *filter)
{
  g_return_val_if_fail (filter != NULL, NULL);

  g_atomic_ref_count_inc (&filter->ref_count);
  return filter;
}

static void
address_tables_clear (AddressTables *tables)
{
  guint i;

  for (i = 0; i <= tables->bits; i++)
    g_clear_pointer (&tables->tables[i], g_hash_table_unref);
}

/**
 * hg_filter_unref:
 * @filter: (transfer full): a filter
 *
 * Drops a reference to @filter, freeing it with the last one.
 */
void
hg_filter_unref (HgFilter *filter)
{
  g_return_if_fail (filter != NULL);

  if (!g_atomic_ref_count_dec (&filter->ref_count))
    return;

  g_free (filter->exact.slots);
  g_free (filter->wildcard.slots);
  address_tables_clear (&filter->ipv4);
  address_tables_clear (&filter->ipv6);
  g_ptr_array_unref (filter->port_lists);
  g_string_chunk_free (filter->keys);
  g_free (filter);
}

static gboolean
port_set_contains (HgFilter *filter,
                   PortSet   set,
                   guint16   port)
{
  guint specific = set & PORTS_SPECIFIC;
  GArray *list;
  guint i;

  if ((set & PORTS_ANY) != 0)
    return TRUE;

  if (specific < PORTS_LIST)
    return specific != 0 && specific == port;

  list = g_ptr_array_index (filter->port_lists, specific - PORTS_LIST);
  for (i = 0; i < list->len; i++)
    {
      if (g_array_index (list, guint16, i) == port)
        return TRUE;
    }

  return FALSE;
}

static gint
compare_ports (gconstpointer a,
               gconstpointer b)
{
  return (gint) *(const guint16 *) a - (gint) *(const guint16 *) b;
}

/* Returns @set with @port (0 for any port) added, and counts a new entry. */
static PortSet
port_set_add (HgFilter *filter,
              PortSet   set,
              guint16   port)
{
  guint specific = set & PORTS_SPECIFIC;
  GArray *list;

  if (port == 0 ? (set & PORTS_ANY) != 0 : port_set_contains (filter, set & PORTS_SPECIFIC, port))
    return set;

  filter->size++;

  if (port == 0)
    return set | PORTS_ANY;

  if (specific == 0)
    return (set & PORTS_ANY) | port;

  if (specific < PORTS_LIST)
    {
      list = g_array_sized_new (FALSE, FALSE, sizeof (guint16), 2);
      g_array_append_val (list, specific);
      g_ptr_array_add (filter->port_lists, list);
      specific = PORTS_LIST + filter->port_lists->len - 1;
    }
  else
    {
      list = g_ptr_array_index (filter->port_lists, specific - PORTS_LIST);
    }

  g_array_append_val (list, port);
  g_array_sort (list, compare_ports);
  return (set & PORTS_ANY) | specific;
}

/* Calls @func for 0 if @set contains "any port", then for each specific port. */
static void
port_set_foreach (HgFilter *filter,
                  PortSet   set,
                  void    (*func) (guint16 port, gpointer data),
                  gpointer  data)
{
  guint specific = set & PORTS_SPECIFIC;
  GArray *list;
  guint i;

  if ((set & PORTS_ANY) != 0)
    func (0, data);

  if (specific == 0)
    return;

  if (specific < PORTS_LIST)
    {
      func ((guint16) specific, data);
      return;
    }

  list = g_ptr_array_index (filter->port_lists, specific - PORTS_LIST);
  for (i = 0; i < list->len; i++)
    func (g_array_index (list, guint16, i), data);
}

static guint
count_labels (const char *name)
{
  guint labels = 1;
  const char *p;

  for (p = strchr (name, '.'); p != NULL; p = strchr (p + 1, '.'))
    labels++;

  return labels;
}

/* A normalised name of at most 253 octets has at most 127 labels. */
static gboolean
has_wildcard_with_labels (HgFilter *filter,
                          guint     labels)
{
  return labels < 128 &&
         (filter->wildcard_labels[labels / 64] & (G_GUINT64_CONSTANT (1) << (labels % 64))) != 0;
}

static void
add_name (HgFilter   *filter,
          NameTable  *table,
          const char *name,
          guint16     port)
{
  guint32 hash = name_hash (name);
  NameSlot *slot = name_table_find (table, name, hash);
  guint labels;

  if (slot == NULL)
    {
      name_table_grow_if_needed (table);
      slot = name_table_empty_slot (table, hash);
      slot->key = g_string_chunk_insert (filter->keys, name);
      slot->hash = hash;
      slot->ports = 0;
      table->count++;
    }

  if (table == &filter->wildcard)
    {
      labels = MIN (count_labels (name), 127);
      filter->wildcard_labels[labels / 64] |= G_GUINT64_CONSTANT (1) << (labels % 64);
    }

  slot->ports = port_set_add (filter, slot->ports, port);
}

static guint32
ipv4_key (const guint8 *bytes,
          guint         length)
{
  guint32 value = ((guint32) bytes[0] << 24) | ((guint32) bytes[1] << 16) |
                  ((guint32) bytes[2] << 8) | (guint32) bytes[3];

  return length == 0 ? 0 : value & (G_MAXUINT32 << (IPV4_BITS - length));
}

static void
ipv6_key (const guint8 *bytes,
          guint         length,
          guint8        key[16])
{
  guint i;

  for (i = 0; i < 16; i++)
    {
      if (i < length / 8)
        key[i] = bytes[i];
      else if (i == length / 8)
        key[i] = bytes[i] & (guint8) (0xff00 >> (length % 8));
      else
        key[i] = 0;
    }
}

static GHashTable *
address_table_for_length (AddressTables *tables,
                          guint          length)
{
  guint i;

  if (tables->tables[length] != NULL)
    return tables->tables[length];

  if (tables->bits == IPV4_BITS)
    tables->tables[length] = g_hash_table_new (g_direct_hash, g_direct_equal);
  else
    tables->tables[length] = g_hash_table_new (ipv6_key_hash, ipv6_key_equal);

  /* Keep the lengths present sorted, longest first. */
  for (i = tables->n_lengths; i > 0 && tables->lengths[i - 1] < length; i--)
    tables->lengths[i] = tables->lengths[i - 1];
  tables->lengths[i] = (guint8) length;
  tables->n_lengths++;

  return tables->tables[length];
}

static void
add_address (HgFilter         *filter,
             GInetAddressMask *mask,
             guint16           port)
{
  GInetAddress *address = g_inet_address_mask_get_address (mask);
  guint length = g_inet_address_mask_get_length (mask);
  const guint8 *bytes = g_inet_address_to_bytes (address);
  gpointer key;
  gpointer value;
  GHashTable *table;
  PortSet set = 0;
  guint8 v6[16];

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4)
    {
      table = address_table_for_length (&filter->ipv4, length);
      key = GUINT_TO_POINTER (ipv4_key (bytes, length));
      if (g_hash_table_lookup_extended (table, key, NULL, &value))
        set = GPOINTER_TO_UINT (value);
    }
  else
    {
      table = address_table_for_length (&filter->ipv6, length);
      ipv6_key (bytes, length, v6);
      if (g_hash_table_lookup_extended (table, v6, &key, &value))
        set = GPOINTER_TO_UINT (value);
      else
        key = g_string_chunk_insert_len (filter->keys, (const char *) v6, sizeof v6);
    }

  g_hash_table_insert (table, key, GUINT_TO_POINTER (port_set_add (filter, set, port)));
}

static gboolean
filter_is_shared (HgFilter *filter)
{
  return !g_atomic_ref_count_compare (&filter->ref_count, 1);
}

/**
 * hg_filter_add_pattern:
 * @filter: a filter that is not shared
 * @pattern: a parsed pattern
 *
 * Adds @pattern to @filter. Adding an entry the filter already has
 * changes nothing.
 */
void
hg_filter_add_pattern (HgFilter        *filter,
                       const HgPattern *pattern)
{
  g_return_if_fail (filter != NULL);
  g_return_if_fail (pattern != NULL);
  g_return_if_fail (!filter_is_shared (filter));

  switch (pattern->kind)
    {
    case HG_PATTERN_EXACT:
      add_name (filter, &filter->exact, pattern->host, pattern->port);
      break;

    case HG_PATTERN_WILDCARD:
      add_name (filter, &filter->wildcard, pattern->host, pattern->port);
      break;

    case HG_PATTERN_ANY:
      filter->any = port_set_add (filter, filter->any, pattern->port);
      break;

    case HG_PATTERN_ADDRESS:
    case HG_PATTERN_CIDR:
      add_address (filter, pattern->mask, pattern->port);
      break;

    default:
      g_return_if_reached ();
    }
}

/**
 * hg_filter_add:
 * @filter: a filter that is not shared
 * @entry: a list entry, as hg_pattern_parse() reads it
 * @flags: %HG_PATTERN_FLAG_DENY when @filter is a deny list
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Parses @entry and adds it to @filter.
 *
 * Returns: %TRUE if @entry was valid, %FALSE with @error set
 */
gboolean
hg_filter_add (HgFilter        *filter,
               const char      *entry,
               HgPatternFlags   flags,
               GError         **error)
{
  g_autoptr(HgPattern) pattern = NULL;

  g_return_val_if_fail (filter != NULL, FALSE);
  g_return_val_if_fail (entry != NULL, FALSE);
  g_return_val_if_fail (!filter_is_shared (filter), FALSE);

  pattern = hg_pattern_parse (entry, flags, error);
  if (pattern == NULL)
    return FALSE;

  hg_filter_add_pattern (filter, pattern);
  return TRUE;
}

typedef struct {
  HgFilter *filter;
  NameTable *names;           /* for names */
  const char *name;
  AddressTables *addresses;   /* for addresses */
  guint length;
  gconstpointer key;
} MergeTarget;

static void
merge_port_cb (guint16  port,
               gpointer data)
{
  MergeTarget *target = data;
  GHashTable *table;
  gpointer key;
  gpointer value;
  PortSet set = 0;

  if (target->names != NULL)
    {
      add_name (target->filter, target->names, target->name, port);
      return;
    }

  if (target->addresses == NULL)
    {
      target->filter->any = port_set_add (target->filter, target->filter->any, port);
      return;
    }

  /* g_hash_table_lookup_extended() sets the key it returns to NULL when
   * it finds nothing, so the key is chosen only after the lookup. An
   * IPv4 key is the address itself; an IPv6 key is copied into this
   * filter's chunk. */
  table = address_table_for_length (target->addresses, target->length);
  if (g_hash_table_lookup_extended (table, target->key, &key, &value))
    set = GPOINTER_TO_UINT (value);
  else if (target->addresses->bits == IPV6_BITS)
    key = g_string_chunk_insert_len (target->filter->keys, target->key, 16);
  else
    key = (gpointer) target->key;

  g_hash_table_insert (table, key, GUINT_TO_POINTER (port_set_add (target->filter, set, port)));
}

static void
merge_names (HgFilter  *filter,
             NameTable *names,
             HgFilter  *other,
             NameTable *other_names)
{
  MergeTarget target = { filter, names, NULL, NULL, 0, NULL };
  gsize i;

  for (i = 0; i <= other_names->mask; i++)
    {
      if (other_names->slots[i].key == NULL)
        continue;

      target.name = other_names->slots[i].key;
      port_set_foreach (other, other_names->slots[i].ports, merge_port_cb, &target);
    }
}

static void
merge_addresses (HgFilter      *filter,
                 AddressTables *tables,
                 HgFilter      *other,
                 AddressTables *other_tables)
{
  MergeTarget target = { filter, NULL, NULL, tables, 0, NULL };
  GHashTableIter iter;
  gpointer key;
  gpointer value;
  guint i;

  for (i = 0; i < other_tables->n_lengths; i++)
    {
      target.length = other_tables->lengths[i];
      g_hash_table_iter_init (&iter, other_tables->tables[target.length]);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          target.key = key;
          port_set_foreach (other, GPOINTER_TO_UINT (value), merge_port_cb, &target);
        }
    }
}

/**
 * hg_filter_merge:
 * @filter: a filter that is not shared
 * @other: the filter whose entries to add; it may be shared
 *
 * Adds every entry of @other to @filter.
 */
void
hg_filter_merge (HgFilter *filter,
                 HgFilter *other)
{
  MergeTarget any_target = { filter, NULL, NULL, NULL, 0, NULL };

  g_return_if_fail (filter != NULL);
  g_return_if_fail (other != NULL);
  g_return_if_fail (filter != other);
  g_return_if_fail (!filter_is_shared (filter));

  merge_names (filter, &filter->exact, other, &other->exact);
  merge_names (filter, &filter->wildcard, other, &other->wildcard);
  port_set_foreach (other, other->any, merge_port_cb, &any_target);
  merge_addresses (filter, &filter->ipv4, other, &other->ipv4);
  merge_addresses (filter, &filter->ipv6, other, &other->ipv6);
}

/**
 * hg_filter_copy:
 * @filter: a filter
 *
 * Creates a filter with the same entries as @filter that is not shared,
 * so that entries can be added to it before it replaces @filter.
 *
 * Returns: (transfer full): the copy
 */
HgFilter *
hg_filter_copy (HgFilter *filter)
{
  HgFilter *copy;

  g_return_val_if_fail (filter != NULL, NULL);

  copy = hg_filter_new ();
  hg_filter_merge (copy, filter);
  return copy;
}

/**
 * hg_filter_get_size:
 * @filter: a filter
 *
 * Counts the distinct entries of @filter. `example.com` and
 * `example.com:443` count as two.
 *
 * Returns: the number of entries
 */
guint
hg_filter_get_size (HgFilter *filter)
{
  g_return_val_if_fail (filter != NULL, 0);

  return filter->size;
}

/* The entry that matched, enough to format it with match_to_string(). */
typedef struct {
  HgPatternKind kind;
  const char *name;          /* the key, for exact and wildcard entries */
  GSocketFamily family;      /* for address and range entries */
  guint8 bytes[16];
  guint length;
  guint16 port;              /* 0 when the entry allows any port */
} Match;

static gboolean
port_set_match (HgFilter *filter,
                PortSet   set,
                guint16   port,
                Match    *match)
{
  if (set == 0 || !port_set_contains (filter, set, port))
    return FALSE;

  if (match != NULL)
    match->port = (set & PORTS_ANY) != 0 ? 0 : port;

  return TRUE;
}

static gboolean
table_matches (HgFilter      *filter,
               NameTable     *table,
               HgPatternKind  kind,
               const char    *name,
               guint16        port,
               Match         *match)
{
  NameSlot *slot = name_table_find (table, name, name_hash (name));

  if (slot == NULL || !port_set_match (filter, slot->ports, port, match))
    return FALSE;

  if (match != NULL)
    {
      match->kind = kind;
      match->name = slot->key;
    }

  return TRUE;
}

static gboolean
any_matches (HgFilter *filter,
             guint16   port,
             Match    *match)
{
  if (!port_set_match (filter, filter->any, port, match))
    return FALSE;

  if (match != NULL)
    match->kind = HG_PATTERN_ANY;

  return TRUE;
}

static gboolean
match_one_address (HgFilter     *filter,
                   GInetAddress *address,
                   guint16       port,
                   Match        *match)
{
  const guint8 *bytes = g_inet_address_to_bytes (address);
  GSocketFamily family = g_inet_address_get_family (address);
  AddressTables *tables = family == G_SOCKET_FAMILY_IPV4 ? &filter->ipv4 : &filter->ipv6;
  guint8 key_bytes[16];
  gpointer key;
  guint i;

  for (i = 0; i < tables->n_lengths; i++)
    {
      guint length = tables->lengths[i];
      guint32 v4;
      PortSet set;

      if (family == G_SOCKET_FAMILY_IPV4)
        {
          v4 = ipv4_key (bytes, length);
          key = GUINT_TO_POINTER (v4);
          key_bytes[0] = v4 >> 24;
          key_bytes[1] = v4 >> 16;
          key_bytes[2] = v4 >> 8;
          key_bytes[3] = v4;
        }
      else
        {
          ipv6_key (bytes, length, key_bytes);
          key = key_bytes;
        }

      set = GPOINTER_TO_UINT (g_hash_table_lookup (tables->tables[length], key));
      if (!port_set_match (filter, set, port, match))
        continue;

      if (match != NULL)
        {
          match->kind = length == tables->bits ? HG_PATTERN_ADDRESS : HG_PATTERN_CIDR;
          match->family = family;
          match->length = length;
          memcpy (match->bytes, key_bytes, sizeof key_bytes);
        }
      return TRUE;
    }

  return FALSE;
}

static gboolean
match_address (HgFilter     *filter,
               GInetAddress *address,
               guint16       port,
               Match        *match)
{
  g_autoptr(GInetAddress) unmapped = NULL;

  if (match_one_address (filter, address, port, match))
    return TRUE;

  unmapped = hg_address_unmap (address);
  if (unmapped != address && match_one_address (filter, unmapped, port, match))
    return TRUE;

  return any_matches (filter, port, match);
}

/* Checks a name that is the text of an IP literal, as hg_host_parse()
 * returns for one, against the address entries. Only a name that ends in
 * a digit or contains ":" is parsed, and the parse is numeric only. */
static gboolean
match_literal_name (HgFilter   *filter,
                    const char *name,
                    guint16     port,
                    Match      *match)
{
  g_autoptr(GInetAddress) address = NULL;
  gsize length = strlen (name);

  if (length == 0 || (!g_ascii_isdigit (name[length - 1]) && strchr (name, ':') == NULL))
    return FALSE;

  address = g_inet_address_new_from_string (name);
  return address != NULL && match_address (filter, address, port, match);
}

static gboolean
match_name (HgFilter   *filter,
            const char *name,
            guint16     port,
            Match      *match)
{
  const char *dot;
  guint labels;

  if (table_matches (filter, &filter->exact, HG_PATTERN_EXACT, name, port, match))
    return TRUE;

  /* Probe only the parent domains with as many labels as some wildcard
   * suffix has: most lists hold suffixes of two or three labels. */
  if (filter->wildcard.count > 0)
    {
      labels = count_labels (name);
      for (dot = strchr (name, '.'); dot != NULL; dot = strchr (dot + 1, '.'))
        {
          labels--;
          if (has_wildcard_with_labels (filter, labels) &&
              table_matches (filter, &filter->wildcard, HG_PATTERN_WILDCARD, dot + 1, port, match))
            return TRUE;
        }
    }

  if (any_matches (filter, port, match))
    return TRUE;

  return match_literal_name (filter, name, port, match);
}

/**
 * hg_filter_match_name:
 * @filter: a filter
 * @normalized_name: a host name as hg_host_parse() returns it
 * @port: the requested port
 *
 * Checks @normalized_name against the exact entries, then each parent
 * domain against the wildcard entries, then `*`. The cost is one hash
 * probe per label. A name that is the text of an IP literal, such as
 * "203.0.113.7" or "2001:db8::1", is also checked against the address and
 * range entries.
 *
 * Returns: %TRUE if an entry matches
 */
gboolean
hg_filter_match_name (HgFilter   *filter,
                      const char *normalized_name,
                      guint16     port)
{
  g_return_val_if_fail (filter != NULL, FALSE);
  g_return_val_if_fail (normalized_name != NULL, FALSE);

  return match_name (filter, normalized_name, port, NULL);
}

/**
 * hg_filter_match_address:
 * @filter: a filter
 * @address: a literal or resolved address
 * @port: the requested port
 *
 * Checks @address against the address and range entries, then `*`.
 * IPv4-mapped, IPv4-compatible and NAT64 addresses match both as written
 * and as the IPv4 address they carry (see hg_address_unmap()), so that a
 * deny range cannot be bypassed by another spelling of the address. The
 * cost is one hash probe per distinct prefix length in the filter.
 *
 * Returns: %TRUE if an entry matches
 */
gboolean
hg_filter_match_address (HgFilter     *filter,
                         GInetAddress *address,
                         guint16       port)
{
  g_return_val_if_fail (filter != NULL, FALSE);
  g_return_val_if_fail (G_IS_INET_ADDRESS (address), FALSE);

  return match_address (filter, address, port, NULL);
}

/**
 * hg_filter_match_host:
 * @filter: a filter
 * @normalized_name: a host name as hg_host_parse() returns it
 * @address: (nullable): the host's address, when it is an IP literal or
 *   has been resolved
 * @port: the requested port
 *
 * Checks the name with hg_filter_match_name() and, if @address is given,
 * the address with hg_filter_match_address().
 *
 * Returns: %TRUE if an entry matches either
 */
gboolean
hg_filter_match_host (HgFilter     *filter,
                      const char   *normalized_name,
                      GInetAddress *address,
                      guint16       port)
{
  g_return_val_if_fail (filter != NULL, FALSE);
  g_return_val_if_fail (normalized_name != NULL, FALSE);

  if (match_name (filter, normalized_name, port, NULL))
    return TRUE;

  return address != NULL && match_address (filter, address, port, NULL);
}

static char *
match_to_string (const Match *match)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *text = NULL;
  g_autofree char *port = match->port != 0 ? g_strdup_printf (":%u", match->port) : g_strdup ("");

  switch (match->kind)
    {
    case HG_PATTERN_EXACT:
      return g_strconcat (match->name, port, NULL);

    case HG_PATTERN_WILDCARD:
      return g_strconcat ("*.", match->name, port, NULL);

    case HG_PATTERN_ANY:
      return g_strconcat ("*", port, NULL);

    case HG_PATTERN_ADDRESS:
    case HG_PATTERN_CIDR:
      address = g_inet_address_new_from_bytes (match->bytes, match->family);
      text = g_inet_address_to_string (address);
      if (match->kind == HG_PATTERN_CIDR)
        return g_strdup_printf ("%s/%u", text, match->length);
      if (match->family == G_SOCKET_FAMILY_IPV6)
        return g_strdup_printf ("[%s]%s", text, port);
      return g_strconcat (text, port, NULL);

    default:
      g_return_val_if_reached (NULL);
    }
}

/**
 * hg_filter_find_match:
 * @filter: a filter
 * @normalized_name: (nullable): a host name as hg_host_parse() returns it
 * @address: (nullable): the host's address, when it is an IP literal or
 *   has been resolved
 * @port: the requested port
 *
 * Finds the entry that makes hg_filter_match_host() succeed, for log lines
 * and denial reasons. It costs the same as the match itself. When several
 * entries match, the first one in the order of hg_filter_match_name() and
 * hg_filter_match_address() is returned.
 *
 * Returns: (transfer full) (nullable): the entry in its canonical form,
 *   or %NULL if no entry matches
 */
char *
hg_filter_find_match (HgFilter     *filter,
                      const char   *normalized_name,
                      GInetAddress *address,
                      guint16       port)
{
  Match match = { 0 };

  g_return_val_if_fail (filter != NULL, NULL);

  if (normalized_name != NULL && match_name (filter, normalized_name, port, &match))
    return match_to_string (&match);

  if (address != NULL && match_address (filter, address, port, &match))
    return match_to_string (&match);

  return NULL;
}

typedef struct {
  GPtrArray *out;
  const char *text;      /* the entry without its port */
  gboolean ipv6;         /* whether a port needs brackets around the text */
} StrvTarget;

static void
append_entry_cb (guint16  port,
                 gpointer data)
{
  StrvTarget *target = data;

  if (port == 0 && target->ipv6)
    g_ptr_array_add (target->out, g_strdup_printf ("[%s]", target->text));
  else if (port == 0)
    g_ptr_array_add (target->out, g_strdup (target->text));
  else if (target->ipv6)
    g_ptr_array_add (target->out, g_strdup_printf ("[%s]:%u", target->text, port));
  else
    g_ptr_array_add (target->out, g_strdup_printf ("%s:%u", target->text, port));
}

static void
names_to_strv (HgFilter   *filter,
               NameTable  *names,
               const char *prefix,
               GPtrArray  *out)
{
  gsize i;

  for (i = 0; i <= names->mask; i++)
    {
      g_autofree char *text = NULL;
      StrvTarget target = { out, NULL, FALSE };

      if (names->slots[i].key == NULL)
        continue;

      text = g_strconcat (prefix, names->slots[i].key, NULL);
      target.text = text;
      port_set_foreach (filter, names->slots[i].ports, append_entry_cb, &target);
    }
}

static void
addresses_to_strv (HgFilter      *filter,
                   AddressTables *tables,
                   GPtrArray     *out)
{
  GSocketFamily family = tables->bits == IPV4_BITS ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6;
  GHashTableIter iter;
  gpointer key;
  gpointer value;
  guint i;

  for (i = 0; i < tables->n_lengths; i++)
    {
      guint length = tables->lengths[i];

      g_hash_table_iter_init (&iter, tables->tables[length]);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          g_autoptr(GInetAddress) address = NULL;
          g_autofree char *text = NULL;
          guint8 bytes[4];
          guint32 v4 = GPOINTER_TO_UINT (key);
          StrvTarget target = { out, NULL, FALSE };

          if (family == G_SOCKET_FAMILY_IPV4)
            {
              bytes[0] = v4 >> 24;
              bytes[1] = v4 >> 16;
              bytes[2] = v4 >> 8;
              bytes[3] = v4;
              address = g_inet_address_new_from_bytes (bytes, family);
            }
          else
            {
              address = g_inet_address_new_from_bytes (key, family);
            }

          text = g_inet_address_to_string (address);
          if (length < tables->bits)
            {
              g_ptr_array_add (out, g_strdup_printf ("%s/%u", text, length));
              continue;
            }

          target.text = text;
          target.ipv6 = family == G_SOCKET_FAMILY_IPV6;
          port_set_foreach (filter, GPOINTER_TO_UINT (value), append_entry_cb, &target);
        }
    }
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/**
 * hg_filter_to_strv:
 * @filter: a filter
 *
 * Lists the entries of @filter in their canonical form, sorted, as
 * hg_filter_add() reads them back. A range of a single address
 * (`192.0.2.1/32`) is listed as the address.
 *
 * Returns: (transfer full): a %NULL-terminated array of entries
 */
GStrv
hg_filter_to_strv (HgFilter *filter)
{
  GPtrArray *out;
  StrvTarget any_target;

  g_return_val_if_fail (filter != NULL, NULL);

  out = g_ptr_array_sized_new (filter->size + 1);
  any_target = (StrvTarget) { out, "*", FALSE };

  names_to_strv (filter, &filter->exact, "", out);
  names_to_strv (filter, &filter->wildcard, "*.", out);
  port_set_foreach (filter, filter->any, append_entry_cb, &any_target);
  addresses_to_strv (filter, &filter->ipv4, out);
  addresses_to_strv (filter, &filter->ipv6, out);

  g_ptr_array_sort (out, compare_strings);
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}
