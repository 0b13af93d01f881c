/* hg-resolver.c: name lookups with a deadline, pinned names, and
 * connecting to vetted addresses
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-resolver.h"

#include <string.h>
#include <glib/gi18n.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "hg-address.h"
#include "hg-error.h"
#include "hg-host.h"

G_DEFINE_QUARK (hg-resolver-error-quark, hg_resolver_error)

/* One `--resolve` entry for a name: the addresses to use for @port, or
 * for every port when @any_port is set. */
typedef struct {
  gboolean any_port;
  guint16 port;
  GPtrArray *addresses;
} HgPin;

struct _HgResolver {
  guint timeout_ms;
  GHashTable *pins;   /* normalised name → GPtrArray of HgPin */
  guint lookup_count;
};

static void
hg_pin_free (HgPin *pin)
{
  g_clear_pointer (&pin->addresses, g_ptr_array_unref);
  g_free (pin);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgPin, hg_pin_free)

static GPtrArray *
address_array_new (void)
{
  return g_ptr_array_new_with_free_func (g_object_unref);
}

/* Only `::ffff:a.b.c.d` is unmapped: a socket reaches the same IPv4 host
 * either way. NAT64 and IPv4-compatible addresses are kept, because on an
 * IPv6-only network the IPv4 form would be unreachable. hg_address_classify()
 * still unmaps them when the caller vets the address. */
static gboolean
address_is_ipv4_mapped (GInetAddress *address)
{
  static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  return g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
         memcmp (g_inet_address_to_bytes (address), mapped_prefix, sizeof mapped_prefix) == 0;
}

/* Appends @address, unmapped if IPv4-mapped, unless an equal address is
 * already there, so the array keeps its first-seen order. */
static void
address_array_add_unique (GPtrArray    *array,
                          GInetAddress *address)
{
  g_autoptr(GInetAddress) unmapped = NULL;

  if (address_is_ipv4_mapped (address))
    unmapped = hg_address_unmap (address);
  else
    unmapped = g_object_ref (address);

  for (guint i = 0; i < array->len; i++)
    {
      if (g_inet_address_equal (g_ptr_array_index (array, i), unmapped))
        return;
    }

  g_ptr_array_add (array, g_steal_pointer (&unmapped));
}

static GPtrArray *
address_array_copy (GPtrArray *array)
{
  GPtrArray *copy = address_array_new ();

  for (guint i = 0; i < array->len; i++)
    g_ptr_array_add (copy, g_object_ref (g_ptr_array_index (array, i)));

  return copy;
}

static char *
format_duration (guint milliseconds)
{
  if (milliseconds % 1000 == 0)
    return g_strdup_printf (_("%u s"), milliseconds / 1000);

  return g_strdup_printf (_("%u ms"), milliseconds);
}

/**
 * hg_resolver_new:
 * @timeout_ms: the deadline of each DNS lookup in milliseconds, or 0 for
 *   none
 *
 * Creates a resolver without pins. Lookups go through the default
 * #GResolver at the time of each lookup.
 *
 * Returns: (transfer full): a new #HgResolver
 */
HgResolver *
hg_resolver_new (guint timeout_ms)
{
  HgResolver *resolver = g_new0 (HgResolver, 1);

  resolver->timeout_ms = timeout_ms;
  resolver->pins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_ptr_array_unref);

  return resolver;
}

/**
 * hg_resolver_free:
 * @resolver: (transfer full): an #HgResolver
 *
 * Frees @resolver. Lookups still running complete normally, because
 * they keep no pointer to it.
 */
void
hg_resolver_free (HgResolver *resolver)
{
  if (resolver == NULL)
    return;

  g_hash_table_unref (resolver->pins);
  g_free (resolver);
}

static gboolean
set_pin_error (GError     **error,
               const char  *spec,
               const char  *problem)
{
  g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING,
               _("Invalid --resolve entry “%s”: %s. Expected HOST:PORT:ADDRESS[,ADDRESS…] or HOST:ADDRESS."),
               spec, problem);
  return FALSE;
}

/* Parses one item of the address list. A bracketed item must be IPv6;
 * in the short form a bare item must be IPv4, because `HOST:a:b::1`
 * could also be read as a port followed by an address. */
static GInetAddress *
parse_pin_address (const char  *spec,
                   const char  *item,
                   gboolean     short_form,
                   GError     **error)
{
  g_autoptr(GInetAddress) address = NULL;
  size_t len = strlen (item);
  gboolean bracketed = len >= 2 && item[0] == '[' && item[len - 1] == ']';
  g_autofree char *problem = NULL;

  if (len == 0)
    {
      set_pin_error (error, spec, _("an address in the list is empty"));
      return NULL;
    }

  if (bracketed)
    {
      g_autofree char *inner = g_strndup (item + 1, len - 2);

      address = g_inet_address_new_from_string (inner);
      if (address != NULL && g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
        return g_steal_pointer (&address);

      problem = g_strdup_printf (_("“%s” is not a bracketed IPv6 address"), item);
      set_pin_error (error, spec, problem);
      return NULL;
    }

  address = g_inet_address_new_from_string (item);
  if (address == NULL)
    {
      problem = g_strdup_printf (_("“%s” is not an IP address"), item);
      set_pin_error (error, spec, problem);
      return NULL;
    }

  if (short_form && g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    {
      problem = g_strdup_printf (_("the IPv6 address “%s” needs brackets, as in HOST:[%s]"),
                                 item, item);
      set_pin_error (error, spec, problem);
      return NULL;
    }

  return g_steal_pointer (&address);
}

static GPtrArray *
parse_pin_addresses (const char  *spec,
                     const char  *list,
                     gboolean     short_form,
                     GError     **error)
{
  g_autoptr(GPtrArray) addresses = address_array_new ();
  g_auto(GStrv) items = g_strsplit (list, ",", -1);

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autoptr(GInetAddress) address = parse_pin_address (spec, items[i], short_form, error);

      if (address == NULL)
        return NULL;

      address_array_add_unique (addresses, address);
    }

  if (addresses->len == 0)
    {
      set_pin_error (error, spec, _("the address is missing"));
      return NULL;
    }

  return g_steal_pointer (&addresses);
}

/* Splits @rest (the part after `HOST:`) into the port and the address
 * list. It is the long form when the text before the first `:` is a
 * non-empty port, not when it ends at a `,` or starts an address. */
static HgPin *
parse_pin_port_and_addresses (const char  *spec,
                              const char  *rest,
                              GError     **error)
{
  g_autoptr(HgPin) pin = g_new0 (HgPin, 1);
  size_t prefix_len = strcspn (rest, ":,");
  gboolean long_form = rest[prefix_len] == ':' && prefix_len > 0 && rest[0] != '[';
  const char *list = rest;

  if (long_form)
    {
      g_autofree char *port_text = g_strndup (rest, prefix_len);
      g_autoptr(GError) port_error = NULL;

      if (g_str_equal (port_text, "*"))
        pin->any_port = TRUE;
      else if (!hg_port_parse (port_text, &pin->port, &port_error))
        {
          set_pin_error (error, spec, port_error->message);
          return NULL;
        }

      list = rest + prefix_len + 1;
    }
  else
    {
      pin->any_port = TRUE;

      /* `HOST:80` and `HOST:*` read as a port with nothing after it. */
      if (g_str_equal (rest, "*") ||
          (rest[0] != '\0' && strspn (rest, "0123456789") == strlen (rest)))
        {
          set_pin_error (error, spec, _("the address is missing after the port"));
          return NULL;
        }
    }

  pin->addresses = parse_pin_addresses (spec, list, !long_form, error);
  if (pin->addresses == NULL)
    return NULL;

  return g_steal_pointer (&pin);
}

/**
 * hg_resolver_add_pin:
 * @resolver: an #HgResolver
 * @spec: `HOST:PORT:ADDRESS[,ADDRESS…]` as in curl's `--resolve`, where
 *   PORT may be `*` for every port and an IPv6 ADDRESS may be bracketed,
 *   or `HOST:ADDRESS[,ADDRESS…]` for every port
 * @error: return location for a %HG_PROTOCOL_ERROR_INVALID_SETTING error
 *
 * Pins HOST to the given addresses, so lookups of HOST for that port are
 * answered without DNS. A pin for the exact port wins over a `*` pin. A
 * second pin for the same host and port is an error, because letting one
 * of them win silently would send connections where the user did not
 * intend. The addresses are not vetted here: the caller checks every
 * address it gets back from a lookup, pinned or not.
 *
 * Returns: %TRUE if @spec was valid and is now pinned
 */
gboolean
hg_resolver_add_pin (HgResolver  *resolver,
                     const char  *spec,
                     GError     **error)
{
  const char *colon;
  g_autofree char *host_text = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GError) host_error = NULL;
  g_autoptr(GInetAddress) literal = NULL;
  g_autoptr(HgPin) pin = NULL;
  GPtrArray *pins;

  g_return_val_if_fail (resolver != NULL, FALSE);
  g_return_val_if_fail (spec != NULL, FALSE);

  /* The user information may hold a password, so the message leaves it
   * out. */
  if (strchr (spec, '@') != NULL)
    {
      g_autofree char *redacted = hg_hide_user_information (spec);

      return set_pin_error (error, redacted, _("a host cannot include user information such as “user@”"));
    }

  colon = strchr (spec, ':');
  if (colon == NULL)
    return set_pin_error (error, spec, _("the address is missing"));

  host_text = g_strndup (spec, colon - spec);
  if (host_text[0] == '\0')
    return set_pin_error (error, spec, _("the host is empty"));

  name = hg_host_normalize_name (host_text, &host_error);
  if (name == NULL)
    return set_pin_error (error, spec, host_error->message);

  /* Lookups return IP literals as they are, so a pin on one would never
   * take effect. */
  literal = g_inet_address_new_from_string (name);
  if (literal != NULL)
    return set_pin_error (error, spec, _("the host must be a name, not an IP address"));

  pin = parse_pin_port_and_addresses (spec, colon + 1, error);
  if (pin == NULL)
    return FALSE;

  pins = g_hash_table_lookup (resolver->pins, name);
  if (pins == NULL)
    {
      pins = g_ptr_array_new_with_free_func ((GDestroyNotify) hg_pin_free);
      g_hash_table_insert (resolver->pins, g_strdup (name), pins);
    }

  for (guint i = 0; i < pins->len; i++)
    {
      HgPin *old = g_ptr_array_index (pins, i);

      if (old->any_port == pin->any_port && old->port == pin->port)
        {
          g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING,
                       _("--resolve “%s” pins a host and port pinned already: give all their addresses in one entry, separated by commas"),
                       spec);
          return FALSE;
        }
    }

  g_ptr_array_add (pins, g_steal_pointer (&pin));
  return TRUE;
}

static GPtrArray *
find_pinned_addresses (HgResolver *resolver,
                       const char *name,
                       guint16     port)
{
  GPtrArray *pins = g_hash_table_lookup (resolver->pins, name);
  HgPin *any_port_pin = NULL;

  if (pins == NULL)
    return NULL;

  for (guint i = 0; i < pins->len; i++)
    {
      HgPin *pin = g_ptr_array_index (pins, i);

      if (!pin->any_port && pin->port == port)
        return pin->addresses;
      if (pin->any_port)
        any_port_pin = pin;
    }

  return any_port_pin != NULL ? any_port_pin->addresses : NULL;
}

/**
 * hg_resolver_get_lookup_count:
 * @resolver: an #HgResolver
 *
 * Returns: how many lookups were passed to #GResolver; results from
 *   pins and IP literals are not counted
 */
guint
hg_resolver_get_lookup_count (HgResolver *resolver)
{
  g_return_val_if_fail (resolver != NULL, 0);

  return resolver->lookup_count;
}

/* State of one DNS lookup. It holds no pointer to the HgResolver, and the
 * pending GResolver call holds a reference on the task, so a lookup that
 * completes after the deadline or after hg_resolver_free() only finds
 * @completed set and drops its result. */
typedef struct {
  char *name;
  guint timeout_ms;
  GCancellable *lookup_cancellable;
  GSource *timeout_source;
  GSource *cancelled_source;
  gboolean completed;
} LookupData;

static void
lookup_data_free (LookupData *data)
{
  g_free (data->name);
  g_clear_object (&data->lookup_cancellable);
  if (data->timeout_source != NULL)
    g_source_destroy (data->timeout_source);
  g_clear_pointer (&data->timeout_source, g_source_unref);
  if (data->cancelled_source != NULL)
    g_source_destroy (data->cancelled_source);
  g_clear_pointer (&data->cancelled_source, g_source_unref);
  g_free (data);
}

/* Marks the lookup completed and stops its watchers. Returns FALSE if it
 * was completed already. */
static gboolean
lookup_complete (LookupData *data)
{
  if (data->completed)
    return FALSE;

  data->completed = TRUE;

  if (data->timeout_source != NULL)
    g_source_destroy (data->timeout_source);
  if (data->cancelled_source != NULL)
    g_source_destroy (data->cancelled_source);

  return TRUE;
}

/* Completes @task with @error at once and cancels the GResolver call,
 * which still runs in its thread and may complete later. */
static void
lookup_abandon (GTask  *task,
                GError *error)
{
  g_autoptr(GTask) task_ref = g_object_ref (task);
  LookupData *data = g_task_get_task_data (task);

  if (!lookup_complete (data))
    {
      g_error_free (error);
      return;
    }

  g_task_return_error (task, error);
  g_cancellable_cancel (data->lookup_cancellable);
}

static gboolean
lookup_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  LookupData *data = g_task_get_task_data (task);
  g_autofree char *duration = format_duration (data->timeout_ms);

  lookup_abandon (task, g_error_new (HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_TIMED_OUT,
                                     _("resolving \"%s\" timed out after %s"),
                                     data->name, duration));
  return G_SOURCE_REMOVE;
}

static gboolean
lookup_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  GTask *task = user_data;

  lookup_abandon (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                             _("Operation was cancelled")));
  return G_SOURCE_REMOVE;
}

/* Returns @message past the text of GLib's message @format, as GLib
 * translates it, up to the format's second `%s` or its end, or %NULL when
 * @message does not start with that text. */
static const char *
skip_glib_message (const char *message,
                   const char *format)
{
  const char *translated = g_dgettext ("glib20", format);
  const char *placeholder = strstr (translated, "%s");
  const char *tail_start;
  const char *tail_end;
  g_autofree char *tail = NULL;
  const char *found;
  gsize head;

  if (placeholder == NULL)
    return g_str_has_prefix (message, translated) ? message + strlen (translated) : NULL;

  head = placeholder - translated;
  if (strncmp (message, translated, head) != 0)
    return NULL;

  /* The first %s is an address or a host name, which never contains the
   * text after it (": " in English): an IPv6 address has colons but no ": ". */
  tail_start = placeholder + strlen ("%s");
  tail_end = strstr (tail_start, "%s");
  tail = tail_end != NULL ? g_strndup (tail_start, tail_end - tail_start) : g_strdup (tail_start);
  if (*tail == '\0')
    return message + head;

  found = strstr (message + head, tail);
  return found != NULL ? found + strlen (tail) : NULL;
}

/* Returns the part of GLib's lookup error after its own naming of the
 * host (“Error resolving “NAME”: Name or service not known” in GLib
 * 2.74, translated as GLib translates it), so that the message names the
 * host once. */
static const char *
strip_resolver_prefix (const char *message)
{
  const char *rest = skip_glib_message (message, "Error resolving “%s”: %s");

  return rest != NULL ? rest : message;
}

static void
lookup_by_name_cb (GObject      *source_object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LookupData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GList *list;
  g_autoptr(GPtrArray) addresses = NULL;

  list = g_resolver_lookup_by_name_finish (G_RESOLVER (source_object), result, &error);

  if (!lookup_complete (data))
    {
      g_debug ("dropping the late result for %s", data->name);
      g_resolver_free_addresses (list);
      return;
    }

  if (list == NULL)
    {
      gint code = HG_RESOLVER_ERROR_FAILED;

      if (g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
        code = HG_RESOLVER_ERROR_NOT_FOUND;

      g_task_return_new_error (task, HG_RESOLVER_ERROR, code,
                               _("could not resolve \"%s\": %s"),
                               data->name, strip_resolver_prefix (error->message));
      return;
    }

  addresses = address_array_new ();
  for (GList *l = list; l != NULL; l = l->next)
    address_array_add_unique (addresses, l->data);
  g_resolver_free_addresses (list);

  g_task_return_pointer (task, g_steal_pointer (&addresses),
                         (GDestroyNotify) g_ptr_array_unref);
}

static GSource *
lookup_attach_source (GTask       *task,
                      GSource     *source,
                      GSourceFunc  func)
{
  g_source_set_callback (source, func, g_object_ref (task), g_object_unref);
  g_source_attach (source, g_task_get_context (task));

  return source;
}

static void
lookup_start_dns (HgResolver *resolver,
                  GTask      *task,
                  const char *name)
{
  LookupData *data = g_new0 (LookupData, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr(GResolver) system_resolver = g_resolver_get_default ();

  data->name = g_strdup (name);
  data->timeout_ms = resolver->timeout_ms;
  data->lookup_cancellable = g_cancellable_new ();
  g_task_set_task_data (task, data, (GDestroyNotify) lookup_data_free);

  if (resolver->timeout_ms > 0)
    data->timeout_source = lookup_attach_source (task, g_timeout_source_new (resolver->timeout_ms),
                                                 lookup_timeout_cb);
  if (cancellable != NULL)
    data->cancelled_source = lookup_attach_source (task, g_cancellable_source_new (cancellable),
                                                   G_SOURCE_FUNC (lookup_cancelled_cb));

  resolver->lookup_count++;
  g_debug ("resolving %s", name);

  g_resolver_lookup_by_name_async (system_resolver, name, data->lookup_cancellable,
                                   lookup_by_name_cb, g_object_ref (task));
}

/**
 * hg_resolver_lookup_async:
 * @resolver: an #HgResolver
 * @normalized_name: a host name normalised by hg_host_normalize_name(), or
 *   the text of an IP address
 * @port: the port the caller will connect to, which selects the pin
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the lookup completes
 * @user_data: data for @callback
 *
 * Looks up @normalized_name. An IP address is returned as it is and a
 * pinned name from its pins, both without DNS; any other name goes to the
 * default #GResolver with the resolver's deadline.
 */
void
hg_resolver_lookup_async (HgResolver          *resolver,
                          const char          *normalized_name,
                          guint16              port,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GInetAddress) literal = NULL;
  GPtrArray *pinned;

  g_return_if_fail (resolver != NULL);
  g_return_if_fail (normalized_name != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_resolver_lookup_async);

  literal = g_inet_address_new_from_string (normalized_name);
  if (literal != NULL)
    {
      GPtrArray *addresses = address_array_new ();

      address_array_add_unique (addresses, literal);
      g_task_return_pointer (task, addresses, (GDestroyNotify) g_ptr_array_unref);
      return;
    }

  pinned = find_pinned_addresses (resolver, normalized_name, port);
  if (pinned != NULL)
    {
      g_debug ("answering %s port %u from a pin", normalized_name, port);
      g_task_return_pointer (task, address_array_copy (pinned),
                             (GDestroyNotify) g_ptr_array_unref);
      return;
    }

  lookup_start_dns (resolver, task, normalized_name);
}

/**
 * hg_resolver_lookup_finish:
 * @resolver: an #HgResolver
 * @result: the result passed to the callback
 * @error: return location for a %HG_RESOLVER_ERROR, or
 *   %G_IO_ERROR_CANCELLED
 *
 * Finishes a lookup. IPv4-mapped IPv6 addresses are unmapped and
 * duplicates removed, keeping the resolver's order.
 *
 * Returns: (transfer full) (element-type GInetAddress): the addresses, at
 *   least one, or %NULL on error
 */
GPtrArray *
hg_resolver_lookup_finish (HgResolver    *resolver,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_resolver_lookup_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}


/* Connecting. Each attempt gets its own cancellable and a timeout source
 * that cancels it, instead of a socket timeout: that one counts whole
 * seconds and stays set on the socket for the tunnel's whole life.
 *
 * The attempts connect a socket of their own rather than going through
 * GSocketClient. For each attempt that would enumerate the single
 * address, emit its events and arm a Happy Eyeballs timer, which cost
 * about an eighth of the proxy's CPU time per tunnel at a high rate. */

typedef struct {
  GPtrArray *addresses;
  guint16 port;
  guint timeout_ms;
  guint next;
  GCancellable *attempt_cancellable;
  GSource *attempt_timeout_source;
  gboolean attempt_timed_out;
  GSource *cancelled_source;
  GError *last_error;
  GPtrArray *reasons;   /* why each address failed, in order */
} ConnectData;

static void
connect_stop_attempt_timeout (ConnectData *data)
{
  if (data->attempt_timeout_source != NULL)
    g_source_destroy (data->attempt_timeout_source);
  g_clear_pointer (&data->attempt_timeout_source, g_source_unref);
}

static void
connect_stop_cancelled_watch (ConnectData *data)
{
  if (data->cancelled_source != NULL)
    g_source_destroy (data->cancelled_source);
  g_clear_pointer (&data->cancelled_source, g_source_unref);
}

static void
connect_data_free (ConnectData *data)
{
  connect_stop_attempt_timeout (data);
  connect_stop_cancelled_watch (data);
  g_ptr_array_unref (data->addresses);
  g_clear_object (&data->attempt_cancellable);
  g_clear_error (&data->last_error);
  g_ptr_array_unref (data->reasons);
  g_free (data);
}

static void connect_next (GTask *task);

/* Keeps @error as the last attempt's, and its reason for the message that
 * names every address when all fail. */
static void
connect_record_failure (ConnectData *data,
                        GError      *error)
{
  g_ptr_array_add (data->reasons, g_strdup (hg_strip_connect_prefix (error->message)));
  g_clear_error (&data->last_error);
  data->last_error = error;
}

/* Appends @address, in brackets when it is IPv6, as in a URI, so that
 * its colons do not run into the text around it. */
static void
append_address (GString      *text,
                GInetAddress *address)
{
  g_autofree char *address_text = g_inet_address_to_string (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    g_string_append_printf (text, "[%s]", address_text);
  else
    g_string_append (text, address_text);
}

static char *
format_address_list (GPtrArray *addresses)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < addresses->len; i++)
    {
      if (i > 0)
        g_string_append (text, ", ");
      append_address (text, g_ptr_array_index (addresses, i));
    }

  return g_string_free (text, FALSE);
}

/**
 * hg_strip_connect_prefix:
 * @message: the message of an error from connecting
 *
 * Skips the prefix that GLib puts before the system's reason when a
 * connection fails, because the messages built from it name the peer
 * already. The prefixes are “Error connecting: ”, “Could not connect: ”,
 * “Could not connect to ADDRESS: ” and the one for a proxy server, in
 * English or as GLib translates them.
 *
 * Returns: (transfer none): the rest of @message, or @message itself
 */
const char *
hg_strip_connect_prefix (const char *message)
{
  static const char * const formats[] = {
    "Error connecting: %s",
    "Could not connect: ",
    "Could not connect to proxy server %s: ",
    "Could not connect to %s: ",
  };

  g_return_val_if_fail (message != NULL, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      const char *rest = skip_glib_message (message, formats[i]);

      if (rest != NULL)
        return rest;
    }

  return message;
}

/* Leaves the socket as GSocketClient would: blocking for GIO's
 * synchronous calls, which connecting asynchronously turned off. */
static void
connect_prepare_socket (GSocketConnection *connection)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  g_autoptr(GError) error = NULL;

  g_socket_set_blocking (socket, TRUE);

  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, &error))
    g_debug ("could not set TCP_NODELAY: %s", error->message);
}

static gboolean
connect_attempt_timeout_cb (gpointer user_data)
{
  ConnectData *data = user_data;

  data->attempt_timed_out = TRUE;
  g_cancellable_cancel (data->attempt_cancellable);

  return G_SOURCE_REMOVE;
}

static gboolean
connect_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  ConnectData *data = user_data;

  if (data->attempt_cancellable != NULL)
    g_cancellable_cancel (data->attempt_cancellable);

  return G_SOURCE_REMOVE;
}

static void
connect_cb (GObject      *source_object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConnectData *data = g_task_get_task_data (task);
  GSocketConnection *connection = G_SOCKET_CONNECTION (source_object);
  g_autoptr(GError) error = NULL;
  gboolean connected;

  connected = g_socket_connection_connect_finish (connection, result, &error);
  connect_stop_attempt_timeout (data);

  if (connected)
    {
      connect_stop_cancelled_watch (data);
      connect_prepare_socket (connection);
      g_task_return_pointer (task, g_object_ref (connection), g_object_unref);
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    {
      connect_stop_cancelled_watch (data);
      return;
    }

  if (data->attempt_timed_out)
    {
      g_autofree char *duration = format_duration (data->timeout_ms);

      g_clear_error (&error);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   _("connecting timed out after %s"), duration);
    }

  g_debug ("connecting to port %u failed: %s", data->port, error->message);
  connect_record_failure (data, g_steal_pointer (&error));

  connect_next (task);
}

static gboolean
reasons_all_equal (GPtrArray *reasons)
{
  for (guint i = 1; i < reasons->len; i++)
    {
      if (!g_str_equal (g_ptr_array_index (reasons, i), g_ptr_array_index (reasons, 0)))
        return FALSE;
    }

  return TRUE;
}

/* Returns “ADDRESS: REASON” for each address, joined by “; ”. */
static char *
format_reason_list (ConnectData *data)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < data->reasons->len; i++)
    {
      if (i > 0)
        g_string_append (text, "; ");
      append_address (text, g_ptr_array_index (data->addresses, i));
      g_string_append_printf (text, ": %s", (const char *) g_ptr_array_index (data->reasons, i));
    }

  return g_string_free (text, FALSE);
}

static void
connect_fail (GTask *task)
{
  ConnectData *data = g_task_get_task_data (task);
  gint code = G_IO_ERROR_FAILED;

  connect_stop_cancelled_watch (data);

  /* The last attempt decides the code, so that the proxy replies 504 when
   * the last address timed out. */
  if (data->last_error->domain == G_IO_ERROR)
    code = data->last_error->code;

  if (reasons_all_equal (data->reasons))
    {
      g_autofree char *addresses_text = format_address_list (data->addresses);

      g_task_return_new_error (task, G_IO_ERROR, code,
                               _("could not connect to %s port %u: %s"),
                               addresses_text, data->port,
                               (const char *) g_ptr_array_index (data->reasons, 0));
    }
  else
    {
      g_autofree char *reasons_text = format_reason_list (data);

      g_task_return_new_error (task, G_IO_ERROR, code,
                               _("could not connect to port %u: %s"),
                               data->port, reasons_text);
    }
}

static void
connect_next (GTask *task)
{
  ConnectData *data = g_task_get_task_data (task);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  if (data->next >= data->addresses->len)
    {
      connect_fail (task);
      return;
    }

  address = g_inet_socket_address_new (g_ptr_array_index (data->addresses, data->next),
                                       data->port);
  data->next++;

  socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (socket == NULL)
    {
      connect_record_failure (data, g_steal_pointer (&error));
      connect_next (task);
      return;
    }
  connection = g_socket_connection_factory_create_connection (socket);

  g_clear_object (&data->attempt_cancellable);
  data->attempt_cancellable = g_cancellable_new ();
  data->attempt_timed_out = FALSE;

  if (data->timeout_ms > 0)
    {
      data->attempt_timeout_source = g_timeout_source_new (data->timeout_ms);
      g_source_set_callback (data->attempt_timeout_source, connect_attempt_timeout_cb, data, NULL);
      g_source_attach (data->attempt_timeout_source, g_task_get_context (task));
    }

  g_socket_connection_connect_async (connection, address, data->attempt_cancellable,
                                     connect_cb, g_object_ref (task));
}

/**
 * hg_connect_async:
 * @addresses: (element-type GInetAddress): the vetted addresses, tried
 *   in order; the array is copied
 * @port: the port to connect to
 * @timeout_ms: the deadline of each attempt in milliseconds, or 0 for none
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when a connection is made or every attempt failed
 * @user_data: data for @callback
 *
 * Connects to the first address that accepts, without any proxy and
 * never by name. The attempts follow one another, so the whole operation
 * may take up to @timeout_ms per address.
 */
void
hg_connect_async (GPtrArray           *addresses,
                  guint16              port,
                  guint                timeout_ms,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ConnectData *data;

  g_return_if_fail (addresses != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, hg_connect_async);

  if (addresses->len == 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               _("could not connect to port %u: no address to connect to"),
                               port);
      return;
    }

  data = g_new0 (ConnectData, 1);
  data->addresses = address_array_copy (addresses);
  data->reasons = g_ptr_array_new_with_free_func (g_free);
  data->port = port;
  data->timeout_ms = timeout_ms;
  g_task_set_task_data (task, data, (GDestroyNotify) connect_data_free);

  if (cancellable != NULL)
    {
      data->cancelled_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (data->cancelled_source, G_SOURCE_FUNC (connect_cancelled_cb),
                             data, NULL);
      g_source_attach (data->cancelled_source, g_task_get_context (task));
    }

  connect_next (task);
}

/**
 * hg_connect_finish:
 * @result: the result passed to the callback
 * @error: return location for a %G_IO_ERROR: %G_IO_ERROR_TIMED_OUT if
 *   the last attempt timed out, %G_IO_ERROR_CANCELLED, or the code of the
 *   last attempt's error, with a message naming the addresses and the port
 *
 * Finishes a connect.
 *
 * Returns: (transfer full): the connection, with TCP_NODELAY set and no
 *   socket timeout, or %NULL on error
 */
GSocketConnection *
hg_connect_finish (GAsyncResult  *result,
                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == hg_connect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
