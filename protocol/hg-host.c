/* hg-host.c: parsing and normalising requested hosts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Host names follow these rules, the same for requested hosts and list
 * entries:
 *
 * - ASCII letters are lower-cased. Labels may contain letters, digits, "-"
 *   and "_": underscores are not valid in host names by RFC 952, but real
 *   DNS names (service records, some CDN hosts) carry them, and rejecting
 *   them would only make such hosts impossible to allow.
 * - A label with non-ASCII characters is converted to punycode with
 *   libidn2: NFC first, then UTS #46 non-transitional processing, which is
 *   IDNA2008 as browsers apply it ("ß" stays "ß", so "faß.de" becomes
 *   "xn--fa-hia.de", not "fass.de"). U+3002, U+FF0E and U+FF61 act as dots.
 * - One trailing dot is removed. Labels are at most 63 octets and names at
 *   most 253, counted after punycode.
 * - A name whose last label looks numeric (all digits, or "0x" and hex
 *   digits) is taken as an attempted IPv4 address: it must then be a
 *   dotted quad of four decimal numbers 0–255 without leading zeros.
 *   "2130706433", "0x7f.1", "127.1" and "0177.0.0.1" are all rejected,
 *   because resolvers read them as other addresses than they appear to be.
 * - IPv6 literals are printed by g_inet_address_to_string(), and an
 *   IPv4-mapped address (::ffff:a.b.c.d) becomes the IPv4 address.
 */
#include "config.h"

#include "hg-host.h"
#include "hg-host-private.h"
#include "hg-error.h"

#include <glib/gi18n.h>
#include <idn2.h>
#include <string.h>

#define LABEL_MAX_OCTETS 63
#define NAME_MAX_OCTETS 253

/* Characters of the input that an error message quotes before it cuts the
 * rest off, so that a huge input cannot flood a log line. */
#define MESSAGE_INPUT_MAX_CHARS 200

/* IDNA2008 as UTS #46 non-transitional processing applies it. */
#define IDN_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

static void
append_escaped_char (GString    *out,
                     const char *p,
                     const char *end)
{
  guchar c = (guchar) *p;
  gunichar ch;
  GUnicodeType type;

  if (c < 0x80)
    {
      if (c == '\t')
        g_string_append (out, "\\t");
      else if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\\')
        g_string_append (out, "\\\\");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_c (out, (char) c);
      return;
    }

  ch = g_utf8_get_char_validated (p, end - p);
  if (ch == (gunichar) -1 || ch == (gunichar) -2)
    {
      g_string_append_printf (out, "\\x%02x", c);
      return;
    }

  /* C1 controls, bidi overrides, zero-width characters and line
   * separators could hide or reorder text in a terminal or log viewer. */
  type = g_unichar_type (ch);
  if (type == G_UNICODE_CONTROL || type == G_UNICODE_FORMAT ||
      type == G_UNICODE_LINE_SEPARATOR || type == G_UNICODE_PARAGRAPH_SEPARATOR)
    g_string_append_printf (out, "\\u{%04x}", ch);
  else
    g_string_append_len (out, p, g_utf8_next_char (p) - p);
}

static const char *
next_char (const char *p,
           const char *end)
{
  gunichar ch;

  if ((guchar) *p < 0x80)
    return p + 1;

  ch = g_utf8_get_char_validated (p, end - p);
  if (ch == (gunichar) -1 || ch == (gunichar) -2)
    return p + 1;

  return g_utf8_next_char (p);
}

/**
 * hg_hide_user_information:
 * @text: an entry or an option value, such as `user:pw@host:443`
 *
 * Replaces the user information before the last "@" of @text, after any
 * scheme such as `http://`, with "…", because it may be a password.
 *
 * Returns: (transfer full): @text to show in a message, unchanged when
 *   it has no "@"
 */
char *
hg_hide_user_information (const char *text)
{
  const char *at = strrchr (text, '@');
  const char *scheme_end;
  int prefix_length = 0;

  if (at == NULL)
    return g_strdup (text);

  scheme_end = g_strstr_len (text, at - text, "://");
  if (scheme_end != NULL)
    prefix_length = (int) (scheme_end + 3 - text);

  return g_strdup_printf ("%.*s…%s", prefix_length, text, at);
}

/**
 * hg_escape_for_message:
 * @text: the input to quote
 * @length: its length in bytes, or -1 if it is NUL-terminated
 *
 * Escapes @text so that it is safe to print inside an error message.
 * Control characters (NUL, tab, newline, C1), Unicode format characters
 * and invalid UTF-8 become `\xNN`, `\t` or `\u{NNNN}`. Anything after the
 * first 200 characters is replaced by "…".
 *
 * Returns: (transfer full): the escaped text
 */
char *
hg_escape_for_message (const char *text,
                       gssize      length)
{
  GString *out;
  const char *p;
  const char *end;
  guint chars = 0;

  if (length < 0)
    length = strlen (text);

  out = g_string_sized_new (length + 8);
  end = text + length;

  for (p = text; p < end; p = next_char (p, end))
    {
      if (chars++ == MESSAGE_INPUT_MAX_CHARS)
        {
          g_string_append (out, "…");
          break;
        }

      append_escaped_char (out, p, end);
    }

  return g_string_free (out, FALSE);
}

/**
 * hg_port_parse_len:
 * @text: the port text, not NUL-terminated
 * @length: its length in bytes
 * @port: (out): the port
 * @reason: (out) (transfer full): why @text is invalid
 *
 * Parses a port: decimal digits only, no sign, no leading zero, 1–65535.
 *
 * Returns: %TRUE if @text is a valid port
 */
gboolean
hg_port_parse_len (const char  *text,
                   gsize        length,
                   guint16     *port,
                   char       **reason)
{
  guint value = 0;
  gsize i;

  if (length == 0)
    {
      *reason = g_strdup (_("the port is empty"));
      return FALSE;
    }

  for (i = 0; i < length; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        {
          *reason = g_strdup (_("a port must contain only the digits 0–9, without a sign or spaces"));
          return FALSE;
        }
    }

  if (text[0] == '0')
    {
      if (length == 1)
        *reason = g_strdup (_("port 0 is not allowed"));
      else
        *reason = g_strdup (_("a port must not have leading zeros"));
      return FALSE;
    }

  for (i = 0; i < length && value <= G_MAXUINT16; i++)
    value = value * 10 + (guint) (text[i] - '0');

  if (value > G_MAXUINT16)
    {
      *reason = g_strdup (_("a port must be at most 65535"));
      return FALSE;
    }

  *port = (guint16) value;
  return TRUE;
}

/**
 * hg_ipv4_text_parse:
 * @text: the address text, not NUL-terminated
 * @length: its length in bytes
 * @reason: (out) (transfer full): why @text is invalid
 *
 * Parses a strict dotted-quad IPv4 address.
 *
 * Returns: (transfer full) (nullable): the address
 */
GInetAddress *
hg_ipv4_text_parse (const char  *text,
                    gsize        length,
                    char       **reason)
{
  g_auto(GStrv) parts = NULL;
  g_autofree char *copy = g_strndup (text, length);
  guint8 bytes[4];
  guint i;

  /* Check the shape first, so that "2130706433" is reported as not being
   * a dotted quad rather than as a part over 255. */
  parts = g_strsplit (copy, ".", 5);
  if (strlen (copy) != length || g_strv_length (parts) != 4)
    goto not_dotted_quad;

  for (i = 0; i < 4; i++)
    {
      const char *p;

      if (parts[i][0] == '\0')
        goto not_dotted_quad;

      for (p = parts[i]; *p != '\0'; p++)
        if (!g_ascii_isdigit (*p))
          goto not_dotted_quad;
    }

  for (i = 0; i < 4; i++)
    {
      gsize digits = strlen (parts[i]);

      if (parts[i][0] == '0' && digits > 1)
        {
          *reason = g_strdup (_("a part of an IPv4 address has a leading zero, which some programs read as octal"));
          return NULL;
        }

      if (digits > 3 || g_ascii_strtoull (parts[i], NULL, 10) > 255)
        {
          *reason = g_strdup (_("each part of an IPv4 address must be a number from 0 to 255"));
          return NULL;
        }

      bytes[i] = (guint8) g_ascii_strtoull (parts[i], NULL, 10);
    }

  return g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV4);

not_dotted_quad:
  *reason = g_strdup (_("a numeric host must be a dotted-quad IPv4 address: four numbers from 0 to 255 separated by dots"));
  return NULL;
}

static GInetAddress *
unmap_ipv4_mapped (GInetAddress *address)
{
  static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  const guint8 *bytes;

  if (g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    return g_object_ref (address);

  bytes = g_inet_address_to_bytes (address);
  if (memcmp (bytes, mapped_prefix, sizeof mapped_prefix) != 0)
    return g_object_ref (address);

  return g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);
}

/**
 * hg_ipv6_text_parse:
 * @text: the address text without brackets, not NUL-terminated
 * @length: its length in bytes
 * @reason: (out) (transfer full): why @text is invalid
 *
 * Parses an IPv6 address. Zone identifiers (`%eth0`) are rejected, and an
 * IPv4-mapped address is returned as the IPv4 address.
 *
 * Returns: (transfer full) (nullable): the address
 */
GInetAddress *
hg_ipv6_text_parse (const char  *text,
                    gsize        length,
                    char       **reason)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autofree char *copy = NULL;
  gsize i;

  if (memchr (text, '%', length) != NULL)
    {
      *reason = g_strdup (_("an IPv6 address cannot have a zone identifier (“%”)"));
      return NULL;
    }

  if (memchr (text, ':', length) == NULL)
    {
      *reason = g_strdup (_("brackets are only for IPv6 addresses; write a name or an IPv4 address without them"));
      return NULL;
    }

  for (i = 0; i < length; i++)
    {
      if (!g_ascii_isxdigit (text[i]) && text[i] != ':' && text[i] != '.')
        {
          *reason = g_strdup (_("an IPv6 address may contain only hexadecimal digits, “:” and “.”"));
          return NULL;
        }
    }

  copy = g_strndup (text, length);
  address = g_inet_address_new_from_string (copy);
  if (address == NULL || g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    {
      *reason = g_strdup (_("it is not a valid IPv6 address"));
      return NULL;
    }

  return unmap_ipv4_mapped (address);
}

gboolean
hg_text_looks_like_ipv6 (const char *text,
                         gsize       length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      if (!g_ascii_isxdigit (text[i]) && text[i] != ':' && text[i] != '.')
        return FALSE;
    }

  return TRUE;
}

/* Rejects every ASCII byte that cannot appear in a host name and says
 * why. Non-ASCII text must be valid UTF-8 and is left to IDNA. */
static gboolean
check_host_bytes (const char  *text,
                  gsize        length,
                  gboolean     pattern_context,
                  gboolean    *has_unicode,
                  char       **reason)
{
  gsize i;

  *has_unicode = FALSE;

  for (i = 0; i < length; i++)
    {
      guchar c = (guchar) text[i];

      if (c >= 0x80)
        *has_unicode = TRUE;
      else if (g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.')
        continue;
      else if (c < 0x20 || c == 0x7f)
        *reason = g_strdup (_("a host cannot contain control characters such as a tab or a NUL byte"));
      else if (c == ' ')
        *reason = g_strdup (_("a host cannot contain spaces"));
      else if (c == '%')
        *reason = g_strdup (_("a host cannot contain “%”: percent-encoding and IPv6 zone identifiers are not allowed"));
      else if (c == '@')
        *reason = g_strdup (_("a host cannot contain “@”: user names and passwords are not part of a host"));
      else if (c == '/' && pattern_context)
        *reason = g_strdup (_("“/” is allowed only in an address range such as “10.0.0.0/8”"));
      else if (c == '/')
        *reason = g_strdup (_("a host cannot contain “/”"));
      else if (c == '*' && pattern_context)
        *reason = g_strdup (_("“*” is allowed only as the whole first label, as in “*.example.com”"));
      else if (c == '*')
        *reason = g_strdup (_("a requested host cannot contain “*”"));
      else
        *reason = g_strdup_printf (_("a host cannot contain the character “%c”"), c);

      if (*reason != NULL)
        return FALSE;
    }

  if (*has_unicode && !g_utf8_validate_len (text, length, NULL))
    {
      *reason = g_strdup (_("the host is not valid UTF-8"));
      return FALSE;
    }

  return TRUE;
}

/* Replaces the dot variants that IDNA treats as label separators. */
static char *
map_unicode_dots (const char *text,
                  gsize       length)
{
  static const char *const dots[] = {
    "\343\200\202", /* U+3002 IDEOGRAPHIC FULL STOP */
    "\357\274\216", /* U+FF0E FULLWIDTH FULL STOP */
    "\357\275\241", /* U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP */
  };
  GString *out = g_string_sized_new (length);
  gsize i = 0;

  while (i < length)
    {
      gboolean replaced = FALSE;
      guint d;

      for (d = 0; d < G_N_ELEMENTS (dots) && !replaced; d++)
        {
          if (length - i >= 3 && memcmp (text + i, dots[d], 3) == 0)
            {
              g_string_append_c (out, '.');
              i += 3;
              replaced = TRUE;
            }
        }

      if (!replaced)
        g_string_append_c (out, text[i++]);
    }

  return g_string_free (out, FALSE);
}

static gboolean
append_unicode_label (GString     *out,
                      const char  *label,
                      gsize        length,
                      char       **reason)
{
  g_autofree char *copy = g_strndup (label, length);
  g_autofree char *escaped = NULL;
  uint8_t *ace = NULL;
  gsize ace_length;
  gsize i;
  int rc;

  rc = idn2_lookup_u8 ((const uint8_t *) copy, &ace, IDN_FLAGS);
  if (rc != IDN2_OK)
    {
      escaped = hg_escape_for_message (copy, -1);
      *reason = g_strdup_printf (_("the label “%s” is not a valid internationalized name (%s)"),
                                 escaped, idn2_strerror (rc));
      return FALSE;
    }

  /* UTS #46 mapping can turn one character into several, dots and spaces
   * included, so the result is checked like an ASCII label. */
  ace_length = strlen ((const char *) ace);
  for (i = 0; i < ace_length; i++)
    {
      char c = (char) ace[i];

      if (!g_ascii_islower (c) && !g_ascii_isdigit (c) && c != '-' && c != '_')
        break;
    }

  if (ace_length == 0 || i < ace_length)
    {
      escaped = hg_escape_for_message (copy, -1);
      *reason = g_strdup_printf (_("the label “%s” maps to characters that are not allowed in a host name"),
                                 escaped);
      idn2_free (ace);
      return FALSE;
    }

  if (ace_length > LABEL_MAX_OCTETS)
    {
      escaped = hg_escape_for_message (copy, -1);
      *reason = g_strdup_printf (_("the label “%s” is longer than 63 octets after conversion to punycode"),
                                 escaped);
      idn2_free (ace);
      return FALSE;
    }

  g_string_append_len (out, (const char *) ace, ace_length);
  idn2_free (ace);
  return TRUE;
}

static gboolean
append_label (GString     *out,
              const char  *label,
              gsize        length,
              char       **reason)
{
  g_autofree char *escaped = NULL;
  gsize i;

  if (out->len > 0)
    g_string_append_c (out, '.');

  for (i = 0; i < length; i++)
    {
      if ((guchar) label[i] >= 0x80)
        return append_unicode_label (out, label, length, reason);
    }

  if (length > LABEL_MAX_OCTETS)
    {
      escaped = hg_escape_for_message (label, length);
      *reason = g_strdup_printf (_("the label “%s” is longer than 63 octets"), escaped);
      return FALSE;
    }

  g_string_append_len (out, label, length);
  for (i = out->len - length; i < out->len; i++)
    {
      if (out->str[i] >= 'A' && out->str[i] <= 'Z')
        out->str[i] += 'a' - 'A';
    }

  return TRUE;
}

/* Whether the last label is all digits, or "0x" and hex digits: the forms
 * that inet_aton() would read as part of an address. */
static gboolean
last_label_is_numeric (const char *name)
{
  const char *label = strrchr (name, '.');
  const char *p;

  label = label != NULL ? label + 1 : name;

  if (label[0] == '0' && label[1] == 'x')
    {
      for (p = label + 2; *p != '\0'; p++)
        if (!g_ascii_isxdigit (*p))
          return FALSE;
      return TRUE;
    }

  for (p = label; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;

  return p != label;
}

static gboolean
split_labels (GString     *out,
              const char  *text,
              gsize        length,
              char       **reason)
{
  const char *end = text + length;
  const char *label = text;

  if (text[0] == '.')
    {
      *reason = g_strdup (_("a host cannot start with a dot"));
      return FALSE;
    }

  while (label <= end)
    {
      const char *dot = memchr (label, '.', end - label);
      const char *label_end = dot != NULL ? dot : end;

      if (label_end == label)
        {
          *reason = g_strdup (_("a host cannot contain an empty label (“..”)"));
          return FALSE;
        }

      if (!append_label (out, label, label_end - label, reason))
        return FALSE;

      label = label_end + 1;
    }

  return TRUE;
}

/**
 * hg_host_text_parse:
 * @text: a host without brackets or port, not NUL-terminated
 * @length: its length in bytes
 * @pattern_context: whether @text comes from a list entry, which only
 *   changes the wording of the reasons
 * @name: (out) (transfer full): the normalised name
 * @address: (out) (transfer full): the IPv4 address, if @text is one
 * @reason: (out) (transfer full): why @text is invalid
 *
 * Normalises a host name or parses a dotted-quad IPv4 address, by the rules
 * at the top of this file.
 *
 * Returns: %TRUE if @text is valid
 */
gboolean
hg_host_text_parse (const char     *text,
                    gsize           length,
                    gboolean        pattern_context,
                    char          **name,
                    GInetAddress  **address,
                    char          **reason)
{
  g_autofree char *mapped = NULL;
  g_autoptr(GString) out = NULL;
  gboolean has_unicode;

  *name = NULL;
  *address = NULL;

  if (length == 0)
    {
      *reason = g_strdup (_("the host is empty"));
      return FALSE;
    }

  if (!check_host_bytes (text, length, pattern_context, &has_unicode, reason))
    {
      /* ":" is never valid here, so a scheme only needs a better reason. */
      if (g_strstr_len (text, length, "://") != NULL)
        {
          g_free (*reason);
          *reason = g_strdup (_("a host cannot include a scheme such as “http://”; give the host name only"));
        }
      return FALSE;
    }

  if (has_unicode)
    {
      mapped = map_unicode_dots (text, length);
      text = mapped;
      length = strlen (mapped);
    }

  if (text[length - 1] == '.')
    length--;

  if (length == 0)
    {
      *reason = g_strdup (_("the host is only a dot"));
      return FALSE;
    }

  out = g_string_sized_new (length);
  if (!split_labels (out, text, length, reason))
    return FALSE;

  if (out->len > NAME_MAX_OCTETS)
    {
      *reason = g_strdup_printf (_("the name is %u octets long, over the limit of 253"),
                                 (guint) out->len);
      return FALSE;
    }

  if (last_label_is_numeric (out->str))
    {
      *address = hg_ipv4_text_parse (out->str, out->len, reason);
      return *address != NULL;
    }

  *name = g_string_free (g_steal_pointer (&out), FALSE);
  return TRUE;
}

static void
set_error (GError     **error,
           int          code,
           const char  *input,
           gsize        length,
           const char  *reason)
{
  g_autofree char *escaped = hg_escape_for_message (input, length);

  if (code == HG_PROTOCOL_ERROR_INVALID_PORT)
    g_set_error (error, HG_PROTOCOL_ERROR, code,
                 _("Invalid port in “%s”: %s"), escaped, reason);
  else
    g_set_error (error, HG_PROTOCOL_ERROR, code,
                 _("Invalid host “%s”: %s"), escaped, reason);
}

typedef struct {
  const char *host;
  gsize host_length;
  const char *port;
  gsize port_length;
  gboolean has_port;
  gboolean is_ipv6;
} HostParts;

/* Splits `host`, `host:port`, `[v6]`, `[v6]:port` and a bare IPv6 address. */
static gboolean
split_host_port (const char   *input,
                 gsize         length,
                 HgHostFlags   flags,
                 HostParts    *parts,
                 char        **reason)
{
  const char *end = input + length;
  const char *colon;

  memset (parts, 0, sizeof *parts);

  if (input[0] == '[')
    {
      const char *close = memchr (input, ']', length);

      if (close == NULL)
        {
          *reason = g_strdup (_("“[” has no matching “]”"));
          return FALSE;
        }

      parts->host = input + 1;
      parts->host_length = close - parts->host;
      parts->is_ipv6 = TRUE;

      if (close + 1 == end)
        return TRUE;

      if (close[1] != ':')
        {
          *reason = g_strdup (_("only “:” and a port may follow “]”"));
          return FALSE;
        }

      parts->port = close + 2;
      parts->port_length = end - parts->port;
      parts->has_port = TRUE;
      return TRUE;
    }

  parts->host = input;
  colon = memchr (input, ':', length);
  if (colon == NULL)
    {
      parts->host_length = length;
      return TRUE;
    }

  /* Several colons without brackets: only a bare IPv6 address, which is
   * unambiguous only where no port can follow. */
  if (memchr (colon + 1, ':', end - colon - 1) != NULL)
    {
      if (!hg_text_looks_like_ipv6 (input, length))
        {
          *reason = g_strdup (_("a host can contain only one “:”, before the port"));
          return FALSE;
        }

      if (flags != HG_HOST_PORT_FORBIDDEN)
        {
          *reason = g_strdup (_("an IPv6 address must be written in brackets, as in “[2001:db8::1]:443”"));
          return FALSE;
        }

      parts->host_length = length;
      parts->is_ipv6 = TRUE;
      return TRUE;
    }

  parts->host_length = colon - input;
  parts->port = colon + 1;
  parts->port_length = end - parts->port;
  parts->has_port = TRUE;
  return TRUE;
}

/**
 * hg_host_parse_len:
 * @input: the host, optionally with a port; may contain NUL bytes
 * @length: the length of @input in bytes, or -1 if it is NUL-terminated
 * @flags: whether a port is optional, required or forbidden
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Parses and normalises a requested host as hg_host_parse() does, for
 * callers that hold a byte range rather than a C string. A NUL byte inside
 * @input is rejected like any other control character.
 *
 * Returns: (transfer full) (nullable): the host, or %NULL with @error set
 */
HgHost *
hg_host_parse_len (const char   *input,
                   gssize        length,
                   HgHostFlags   flags,
                   GError      **error)
{
  g_autoptr(HgHost) host = NULL;
  g_autofree char *reason = NULL;
  HostParts parts;
  gboolean valid;

  g_return_val_if_fail (input != NULL || length == 0, NULL);

  if (length < 0)
    length = strlen (input);

  if (length == 0)
    {
      set_error (error, HG_PROTOCOL_ERROR_INVALID_HOST, "", 0, _("the host is empty"));
      return NULL;
    }

  if (g_strstr_len (input, length, "://") != NULL)
    {
      set_error (error, HG_PROTOCOL_ERROR_INVALID_HOST, input, length,
                 _("a host cannot include a scheme such as “http://”; give the host name only"));
      return NULL;
    }

  if (!split_host_port (input, length, flags, &parts, &reason))
    {
      set_error (error, HG_PROTOCOL_ERROR_INVALID_HOST, input, length, reason);
      return NULL;
    }

  host = g_new0 (HgHost, 1);

  if (parts.is_ipv6)
    {
      host->address = hg_ipv6_text_parse (parts.host, parts.host_length, &reason);
      valid = host->address != NULL;
    }
  else
    {
      valid = hg_host_text_parse (parts.host, parts.host_length, FALSE,
                                  &host->name, &host->address, &reason);
    }

  if (!valid)
    {
      set_error (error, HG_PROTOCOL_ERROR_INVALID_HOST, input, length, reason);
      return NULL;
    }

  if (parts.has_port && flags == HG_HOST_PORT_FORBIDDEN)
    reason = g_strdup (_("a port is not allowed here"));
  else if (!parts.has_port && flags == HG_HOST_PORT_REQUIRED)
    reason = g_strdup (_("a port is required, as in “example.com:443”"));
  else if (parts.has_port)
    hg_port_parse_len (parts.port, parts.port_length, &host->port, &reason);

  if (reason != NULL)
    {
      set_error (error, HG_PROTOCOL_ERROR_INVALID_PORT, input, length, reason);
      return NULL;
    }

  if (host->name == NULL)
    host->name = g_inet_address_to_string (host->address);

  return g_steal_pointer (&host);
}

/**
 * hg_host_parse:
 * @input: the host, optionally with a port: `host`, `host:port`, `[v6]`
 *   or `[v6]:port`
 * @flags: whether a port is optional, required or forbidden
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Parses and normalises a requested host. With %HG_HOST_PORT_REQUIRED the
 * syntax is that of a CONNECT authority: a port must follow, nothing may
 * follow the port, and an IPv6 address must be in brackets. A bare IPv6
 * address without brackets is accepted only with %HG_HOST_PORT_FORBIDDEN,
 * where no port can make it ambiguous. Brackets around anything but an
 * IPv6 address are rejected.
 *
 * Errors have the code %HG_PROTOCOL_ERROR_INVALID_HOST or
 * %HG_PROTOCOL_ERROR_INVALID_PORT, and a message that quotes @input with
 * control characters escaped.
 *
 * Returns: (transfer full) (nullable): the host, or %NULL with @error set
 */
HgHost *
hg_host_parse (const char   *input,
               HgHostFlags   flags,
               GError      **error)
{
  g_return_val_if_fail (input != NULL, NULL);

  return hg_host_parse_len (input, -1, flags, error);
}

/**
 * hg_host_free:
 * @host: (nullable): a host
 *
 * Frees @host.
 */
void
hg_host_free (HgHost *host)
{
  if (host == NULL)
    return;

  g_free (host->name);
  g_clear_object (&host->address);
  g_free (host);
}

/**
 * hg_host_to_string:
 * @host: a host
 *
 * Formats @host as hg_host_parse() accepts it: `name`, `name:port`,
 * `[v6]` or `[v6]:port`.
 *
 * Returns: (transfer full): the text
 */
char *
hg_host_to_string (const HgHost *host)
{
  gboolean brackets;

  g_return_val_if_fail (host != NULL, NULL);

  brackets = host->address != NULL &&
             g_inet_address_get_family (host->address) == G_SOCKET_FAMILY_IPV6;

  if (host->port == 0)
    return brackets ? g_strdup_printf ("[%s]", host->name) : g_strdup (host->name);

  if (brackets)
    return g_strdup_printf ("[%s]:%u", host->name, host->port);

  return g_strdup_printf ("%s:%u", host->name, host->port);
}

/**
 * hg_host_normalize_name:
 * @input: a host without a port: a name, a dotted-quad IPv4 address, or an
 *   IPv6 address with or without brackets
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Normalises a host as hg_host_parse() with %HG_HOST_PORT_FORBIDDEN does.
 *
 * Returns: (transfer full) (nullable): the normalised name or canonical
 *   address text, or %NULL with @error set
 */
char *
hg_host_normalize_name (const char  *input,
                        GError     **error)
{
  g_autoptr(HgHost) host = NULL;

  g_return_val_if_fail (input != NULL, NULL);

  host = hg_host_parse (input, HG_HOST_PORT_FORBIDDEN, error);
  if (host == NULL)
    return NULL;

  return g_steal_pointer (&host->name);
}

/**
 * hg_port_parse:
 * @text: the port text
 * @port: (out): the port
 * @error: return location for a %HG_PROTOCOL_ERROR
 *
 * Parses a port: decimal digits only, without a sign or leading zeros,
 * from 1 to 65535.
 *
 * Returns: %TRUE if @text is a valid port, %FALSE with @error set
 */
gboolean
hg_port_parse (const char  *text,
               guint16     *port,
               GError     **error)
{
  g_autofree char *reason = NULL;
  g_autofree char *escaped = NULL;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (port != NULL, FALSE);

  if (hg_port_parse_len (text, strlen (text), port, &reason))
    return TRUE;

  escaped = hg_escape_for_message (text, -1);
  g_set_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_PORT,
               _("Invalid port “%s”: %s"), escaped, reason);
  return FALSE;
}
