/* fuzz-message.c: wire message parsing under libFuzzer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Feeds each input to hg_message_parse() as one line. For an accepted
 * message, serialises it, parses the line again and checks that the
 * second serialisation equals the first, so what one side writes the
 * other side reads back unchanged. For a rejected line, checks that the
 * error message is valid UTF-8 without control characters, as it goes
 * to logs.
 */
#include "config.h"

#include "hg-error.h"
#include "hg-message.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static void
check_error_message (const GError *error)
{
  g_assert_nonnull (error);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));

  for (const char *p = error->message; *p != '\0'; p++)
    g_assert_false ((guchar) *p < 0x20 || *p == 0x7f);
}

static void
check_round_trip (const HgMessage *message)
{
  g_autofree char *line = hg_message_serialize (message);
  g_autofree char *line_again = NULL;
  g_autoptr(HgMessage) again = NULL;
  g_autoptr(GError) error = NULL;
  gsize length = strlen (line);

  g_assert_true (g_utf8_validate (line, -1, NULL));
  for (const char *p = line; *p != '\0'; p++)
    g_assert_false ((guchar) *p < 0x20);

  /* Escaping can make a line longer than the input, because a raw DEL
   * becomes six bytes. The stream refuses to send such a line. */
  if (length > HG_MESSAGE_MAX_LINE)
    return;

  again = hg_message_parse (line, length, &error);
  if (again == NULL)
    g_error ("serialised line does not parse: %s\n%s", error->message, line);

  g_assert_cmpint (again->type, ==, message->type);
  line_again = hg_message_serialize (again);
  g_assert_cmpstr (line_again, ==, line);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(HgMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  message = hg_message_parse ((const char *) data, size, &error);
  if (message == NULL)
    {
      check_error_message (error);
      return 0;
    }

  g_assert_no_error (error);
  check_round_trip (message);
  return 0;
}
