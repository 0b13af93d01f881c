/* test-resolver.c: pins, literals, deadlines and connecting
 *
 * Every test except /resolver/localhost installs a fake GResolver as the
 * default, so no name can reach real DNS. Sockets stay on 127.0.0.0/8.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <locale.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "hg-error.h"
#include "hg-resolver.h"

/* How long a test waits for an operation before it fails. */
#define TEST_DEADLINE_MS 5000

/* A fake GResolver. In the stuck mode a lookup never completes until
 * its cancellable is cancelled; otherwise it returns @answer at once or
 * fails with @error_code. */

typedef enum {
  FAKE_ANSWER,
  FAKE_FAIL,
  FAKE_STUCK,
} FakeMode;

#define FAKE_TYPE_RESOLVER (fake_resolver_get_type ())
G_DECLARE_FINAL_TYPE (FakeResolver, fake_resolver, FAKE, RESOLVER, GResolver)

struct _FakeResolver {
  GResolver parent_instance;
  FakeMode mode;
  const char * const *answer;
  GResolverError error_code;
  const char *error_message; /* instead of GLib 2.74's English wording */
  GPtrArray *names;        /* every name asked for */
  guint finished;          /* lookups that have completed, late ones included */
};

G_DEFINE_FINAL_TYPE (FakeResolver, fake_resolver, G_TYPE_RESOLVER)

static gboolean
fake_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  GTask *task = user_data;

  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static GList *
fake_answer_list (FakeResolver *self)
{
  GList *list = NULL;

  for (guint i = 0; self->answer[i] != NULL; i++)
    list = g_list_append (list, g_inet_address_new_from_string (self->answer[i]));

  return list;
}

static void
fake_lookup_by_name_async (GResolver           *resolver,
                           const char          *hostname,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  FakeResolver *self = FAKE_RESOLVER (resolver);
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);
  GSource *source;

  g_ptr_array_add (self->names, g_strdup (hostname));

  switch (self->mode)
    {
    case FAKE_ANSWER:
      g_task_return_pointer (task, fake_answer_list (self),
                             (GDestroyNotify) g_resolver_free_addresses);
      break;

    case FAKE_FAIL:
      /* Worded as GLib 2.74's threaded resolver words it. */
      if (self->error_message != NULL)
        g_task_return_new_error (task, G_RESOLVER_ERROR, self->error_code, "%s", self->error_message);
      else
        g_task_return_new_error (task, G_RESOLVER_ERROR, self->error_code,
                                 "Error resolving “%s”: Name or service not known", hostname);
      break;

    case FAKE_STUCK:
      /* The cancellable source keeps the task until it fires. */
      g_assert_nonnull (cancellable);
      source = g_cancellable_source_new (cancellable);
      g_source_set_callback (source, G_SOURCE_FUNC (fake_cancelled_cb),
                             g_object_ref (task), g_object_unref);
      g_source_attach (source, g_main_context_get_thread_default ());
      g_source_unref (source);
      break;
    }
}

static GList *
fake_lookup_by_name_finish (GResolver     *resolver,
                            GAsyncResult  *result,
                            GError       **error)
{
  FAKE_RESOLVER (resolver)->finished++;

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
fake_lookup_by_name_with_flags_async (GResolver                *resolver,
                                      const char               *hostname,
                                      GResolverNameLookupFlags  flags,
                                      GCancellable             *cancellable,
                                      GAsyncReadyCallback       callback,
                                      gpointer                  user_data)
{
  fake_lookup_by_name_async (resolver, hostname, cancellable, callback, user_data);
}

static void
fake_resolver_finalize (GObject *object)
{
  g_ptr_array_unref (FAKE_RESOLVER (object)->names);

  G_OBJECT_CLASS (fake_resolver_parent_class)->finalize (object);
}

static void
fake_resolver_class_init (FakeResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = fake_resolver_finalize;
  resolver_class->lookup_by_name_async = fake_lookup_by_name_async;
  resolver_class->lookup_by_name_finish = fake_lookup_by_name_finish;
  resolver_class->lookup_by_name_with_flags_async = fake_lookup_by_name_with_flags_async;
  resolver_class->lookup_by_name_with_flags_finish = fake_lookup_by_name_finish;
}

static void
fake_resolver_init (FakeResolver *self)
{
  self->names = g_ptr_array_new_with_free_func (g_free);
  self->mode = FAKE_FAIL;
  self->error_code = G_RESOLVER_ERROR_NOT_FOUND;
}

static GResolver *system_resolver;

/* Installs a fresh fake as the default resolver; the caller restores the
 * system one with fake_uninstall(). */
static FakeResolver *
fake_install (FakeMode mode)
{
  FakeResolver *fake = g_object_new (FAKE_TYPE_RESOLVER, NULL);

  fake->mode = mode;
  g_resolver_set_default (G_RESOLVER (fake));

  return fake;
}

static void
fake_uninstall (FakeResolver *fake)
{
  g_resolver_set_default (system_resolver);
  g_object_unref (fake);
}

/* g_autoptr(InstalledFake) restores the system resolver at scope end. */
typedef FakeResolver InstalledFake;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (InstalledFake, fake_uninstall)

/* Main loop helpers */

static gboolean
deadline_cb (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates until @count reaches @expected, within TEST_DEADLINE_MS. */
static void
run_until_count (const guint *count,
                 guint        expected)
{
  gboolean expired = FALSE;
  guint deadline_id = g_timeout_add (TEST_DEADLINE_MS, deadline_cb, &expired);

  while (*count < expected && !expired)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
  g_source_remove (deadline_id);
}

static void
store_result_cb (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GAsyncResult **result_out = user_data;

  *result_out = g_object_ref (result);
}

static void
run_until_result (GAsyncResult **result)
{
  gboolean expired = FALSE;
  guint deadline_id = g_timeout_add (TEST_DEADLINE_MS, deadline_cb, &expired);

  while (*result == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (expired);
  g_source_remove (deadline_id);
}

static GPtrArray *
lookup (HgResolver    *resolver,
        const char    *name,
        guint16        port,
        GCancellable  *cancellable,
        GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  hg_resolver_lookup_async (resolver, name, port, cancellable, store_result_cb, &result);
  run_until_result (&result);

  return hg_resolver_lookup_finish (resolver, result, error);
}

/* Returns the addresses as text joined with spaces, for one comparison. */
static char *
addresses_to_string (GPtrArray *addresses)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < addresses->len; i++)
    {
      g_autofree char *address = g_inet_address_to_string (g_ptr_array_index (addresses, i));

      if (i > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, address);
    }

  return g_string_free (text, FALSE);
}

/* Looks @name up and checks the answer's text and that no lookup went to
 * GResolver. */
static void
assert_pinned (HgResolver *resolver,
               const char *name,
               guint16     port,
               const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = lookup (resolver, name, port, NULL, &error);
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (addresses);
  text = addresses_to_string (addresses);
  g_assert_cmpstr (text, ==, expected);
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 0);
}

/* Pins */

static void
test_pin_no_dns (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:443:127.0.0.1", &error));
  g_assert_no_error (error);

  assert_pinned (resolver, "pinned.example", 443, "127.0.0.1");
  g_assert_cmpuint (fake->names->len, ==, 0);
}

static void
test_pin_other_port (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:443:127.0.0.2", &error));
  g_assert_no_error (error);

  addresses = lookup (resolver, "pinned.example", 80, NULL, &error);
  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_NOT_FOUND);
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 1);
  g_assert_cmpuint (fake->names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fake->names, 0), ==, "pinned.example");
}

static void
test_pin_any_port (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:*:127.0.0.3", &error));
  g_assert_no_error (error);

  assert_pinned (resolver, "pinned.example", 80, "127.0.0.3");
  assert_pinned (resolver, "pinned.example", 8443, "127.0.0.3");
  g_assert_cmpuint (fake->names->len, ==, 0);
}

static void
test_pin_exact_port_wins (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:443:127.0.0.4", &error));
  g_assert_no_error (error);
  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:*:127.0.0.3", &error));
  g_assert_no_error (error);

  assert_pinned (resolver, "pinned.example", 443, "127.0.0.4");
  assert_pinned (resolver, "pinned.example", 80, "127.0.0.3");
}

static void
test_pin_twice_rejected (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:443:127.0.0.4", &error));
  g_assert_no_error (error);
  g_assert_false (hg_resolver_add_pin (resolver, "Pinned.Example:443:127.0.0.5", &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING);
  g_assert_nonnull (strstr (error->message, "“Pinned.Example:443:127.0.0.5”"));
  g_assert_nonnull (strstr (error->message, "pinned already"));
  g_clear_error (&error);

  /* The short form pins every port, which is another pin than port 443. */
  g_assert_true (hg_resolver_add_pin (resolver, "pinned.example:127.0.0.6", &error));
  g_assert_no_error (error);
  g_assert_false (hg_resolver_add_pin (resolver, "pinned.example:*:127.0.0.7", &error));
  g_clear_error (&error);

  assert_pinned (resolver, "pinned.example", 443, "127.0.0.4");
  assert_pinned (resolver, "pinned.example", 80, "127.0.0.6");
}

static void
test_pin_multiple (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver,
                                      "pinned.example:443:127.0.0.2,127.0.0.1,[::1],127.0.0.2",
                                      &error));
  g_assert_no_error (error);

  assert_pinned (resolver, "pinned.example", 443, "127.0.0.2 127.0.0.1 ::1");
}

/* For a valid pin @expected is the answer's text; for an invalid one it
 * names the test case. */
typedef struct {
  const char *spec;
  const char *expected;
} PinCase;

static const PinCase valid_pins[] = {
  { "pinned.example:443:[::1]", "::1" },
  { "pinned.example:443:::1", "::1" },
  { "pinned.example:443:[::ffff:127.0.0.1]", "127.0.0.1" },
  { "pinned.example:[::1]", "::1" },
  { "pinned.example:127.0.0.6", "127.0.0.6" },
  { "pinned.example:127.0.0.6,[::1]", "127.0.0.6 ::1" },
  { "Pinned.EXAMPLE.:443:127.0.0.7", "127.0.0.7" },
  /* The resolver does not vet: the caller denies this address. */
  { "pinned.example:443:169.254.169.254", "169.254.169.254" },
};

static void
test_pin_valid (gconstpointer user_data)
{
  const PinCase *pin_case = user_data;
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, pin_case->spec, &error));
  g_assert_no_error (error);

  assert_pinned (resolver, "pinned.example", 443, pin_case->expected);
  g_assert_cmpuint (fake->names->len, ==, 0);
}

static const PinCase invalid_pins[] = {
  { "host", "no-colon" },
  { "host:80", "port-only" },
  { "host:*", "any-port-only" },
  { "host:80:notanip", "not-an-address" },
  { ":80:1.2.3.4", "empty-host" },
  { "host:99999:1.2.3.4", "port-too-large" },
  { "host:0:1.2.3.4", "port-zero" },
  { "host:080:1.2.3.4", "port-leading-zero" },
  { "host:80:", "empty-list" },
  { "host:80:1.2.3.4,", "trailing-comma" },
  { "host:80:1.2.3.4,,1.2.3.5", "empty-item" },
  { "host:", "nothing-after-host" },
  { "host:::1", "short-bare-ipv6" },
  { "host:[1.2.3.4]", "bracketed-ipv4" },
  { "host:80:[::1", "unclosed-bracket" },
  { "host:80:127.1", "short-numeral" },
  { "host:80: 1.2.3.4", "space" },
  { "1.2.3.4:80:1.2.3.5", "literal-host" },
  { "bad host:80:1.2.3.4", "host-with-space" },
  { "*.example:80:1.2.3.4", "wildcard-host" },
};

static void
test_pin_invalid (gconstpointer user_data)
{
  const PinCase *pin_case = user_data;
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_resolver_add_pin (resolver, pin_case->spec, &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, pin_case->spec));
}

/* A password in a --resolve entry stays out of the message. */
static void
test_pin_user_information (void)
{
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;

  g_assert_false (hg_resolver_add_pin (resolver, "user:secret@host:80:1.2.3.4", &error));
  g_assert_error (error, HG_PROTOCOL_ERROR, HG_PROTOCOL_ERROR_INVALID_SETTING);
  g_assert_nonnull (strstr (error->message, "“…@host:80:1.2.3.4”"));
  g_assert_nonnull (strstr (error->message, "user information"));
  g_assert_null (strstr (error->message, "secret"));
}

/* Literals and localhost */

static void
test_literal (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);

  assert_pinned (resolver, "127.0.0.1", 80, "127.0.0.1");
  assert_pinned (resolver, "::1", 80, "::1");
  assert_pinned (resolver, "::ffff:127.0.0.1", 80, "127.0.0.1");
  assert_pinned (resolver, "169.254.169.254", 80, "169.254.169.254");
  g_assert_cmpuint (fake->names->len, ==, 0);
}

/* GResolver resolves `localhost` to loopback itself, without a network
 * query. */
static void
test_localhost (void)
{
  g_autoptr(HgResolver) resolver = hg_resolver_new (TEST_DEADLINE_MS);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = lookup (resolver, "localhost", 80, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (addresses);
  g_assert_cmpuint (addresses->len, >, 0);
  for (guint i = 0; i < addresses->len; i++)
    g_assert_true (g_inet_address_get_is_loopback (g_ptr_array_index (addresses, i)));
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 1);
}

/* DNS through the fake */

static void
test_dns_answer (void)
{
  static const char * const answer[] = {
    "::ffff:127.0.0.1", "127.0.0.1", "::1", "127.0.0.2", "::1", NULL,
  };
  g_autoptr(InstalledFake) fake = fake_install (FAKE_ANSWER);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;
  g_autofree char *text = NULL;

  fake->answer = answer;
  addresses = lookup (resolver, "dns.example", 443, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (addresses);
  text = addresses_to_string (addresses);
  g_assert_cmpstr (text, ==, "127.0.0.1 ::1 127.0.0.2");
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 1);
  g_assert_cmpuint (fake->names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fake->names, 0), ==, "dns.example");
}

static void
test_dns_not_found (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = lookup (resolver, "missing.example", 443, NULL, &error);

  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "could not resolve \"missing.example\": Name or service not known");
}

/* Makes GLib's messages German for the rest of a subprocess. */
static void
switch_to_german (void)
{
  g_setenv ("LANGUAGE", "de", TRUE);
  setlocale (LC_ALL, "C.UTF-8");
}

/* Runs the current test again in a subprocess, which switches to German,
 * or skips it when GLib's German catalogue is missing. GLib's own
 * catalogues live under its prefix, /usr on Debian. */
static void
trap_german_subprocess (void)
{
  if (!g_file_test ("/usr/share/locale/de/LC_MESSAGES/glib20.mo", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("GLib's German catalogue (libglib2.0-data) is not installed");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* In a German session GLib quotes the name with »«; the reason still
 * names the host once. Runs in a subprocess that switches to German. */
static void
test_dns_failed_german (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(InstalledFake) fake = NULL;
      g_autoptr(HgResolver) resolver = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) addresses = NULL;

      switch_to_german ();
      fake = fake_install (FAKE_FAIL);
      resolver = hg_resolver_new (1000);
      fake->error_message = "Fehler beim Auflösen von »nx.example«: Name oder Dienst ist nicht bekannt";
      addresses = lookup (resolver, "nx.example", 443, NULL, &error);

      g_assert_null (addresses);
      g_assert_nonnull (error);
      g_assert_true (g_str_has_suffix (error->message, ": Name oder Dienst ist nicht bekannt"));
      g_assert_null (strstr (error->message, "Fehler beim Auflösen"));
      return;
    }

  trap_german_subprocess ();
}

static void
test_dns_failed (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_FAIL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;

  fake->error_code = G_RESOLVER_ERROR_TEMPORARY_FAILURE;
  addresses = lookup (resolver, "flaky.example", 443, NULL, &error);

  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "flaky.example"));
}

static void
test_dns_timeout (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_STUCK);
  HgResolver *resolver = hg_resolver_new (200);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  addresses = lookup (resolver, "stuck.example", 443, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;

  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_TIMED_OUT);
  g_assert_cmpstr (error->message, ==, "resolving \"stuck.example\" timed out after 200 ms");
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_assert_cmpint (elapsed_ms, <, 2000);
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 1);

  /* The abandoned lookup completes after the resolver is gone. */
  hg_resolver_free (resolver);
  run_until_count (&fake->finished, 1);
}

static void
test_dns_timeout_seconds (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_STUCK);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = lookup (resolver, "stuck.example", 443, NULL, &error);

  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_TIMED_OUT);
  g_assert_cmpstr (error->message, ==, "resolving \"stuck.example\" timed out after 1 s");

  run_until_count (&fake->finished, 1);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_dns_cancelled (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_STUCK);
  g_autoptr(HgResolver) resolver = hg_resolver_new (TEST_DEADLINE_MS * 2);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;

  g_idle_add (cancel_cb, cancellable);
  addresses = lookup (resolver, "stuck.example", 443, cancellable, &error);

  g_assert_null (addresses);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  run_until_count (&fake->finished, 1);
}

/* Freeing the resolver while a lookup waits must not disturb it. */
static void
test_dns_freed_while_pending (void)
{
  g_autoptr(InstalledFake) fake = fake_install (FAKE_STUCK);
  HgResolver *resolver = hg_resolver_new (200);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) addresses = NULL;

  hg_resolver_lookup_async (resolver, "stuck.example", 443, NULL, store_result_cb, &result);
  hg_resolver_free (resolver);
  run_until_result (&result);

  addresses = hg_resolver_lookup_finish (NULL, result, &error);
  g_assert_null (addresses);
  g_assert_error (error, HG_RESOLVER_ERROR, HG_RESOLVER_ERROR_TIMED_OUT);
  run_until_count (&fake->finished, 1);
}

/* Connecting */

/* A listener on 127.0.0.1 with a port the kernel picks, which accepts
 * connections and keeps them until it is freed. */
typedef struct {
  GSocketListener *listener;
  guint16 port;
  GPtrArray *accepted;
  GCancellable *cancellable;
} Listener;

static void accept_next (Listener *listener);

static void
accept_cb (GObject      *source_object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Listener *listener = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source_object), result,
                                                NULL, &error);
  /* Fails once listener_free() has cancelled it. */
  if (connection == NULL)
    return;

  g_ptr_array_add (listener->accepted, connection);
  accept_next (listener);
}

static void
accept_next (Listener *listener)
{
  g_socket_listener_accept_async (listener->listener, listener->cancellable, accept_cb, listener);
}

static Listener *
listener_new (void)
{
  Listener *listener = g_new0 (Listener, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  listener->listener = g_socket_listener_new ();
  listener->accepted = g_ptr_array_new_with_free_func (g_object_unref);
  listener->cancellable = g_cancellable_new ();

  g_socket_listener_add_address (listener->listener, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  listener->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  accept_next (listener);
  return listener;
}

static void
listener_free (Listener *listener)
{
  g_cancellable_cancel (listener->cancellable);
  g_socket_listener_close (listener->listener);

  /* Let the cancelled accept call back before the struct goes away. */
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);

  g_object_unref (listener->listener);
  g_object_unref (listener->cancellable);
  g_ptr_array_unref (listener->accepted);
  g_free (listener);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Listener, listener_free)

static GPtrArray *
addresses_new (const char * const *texts)
{
  GPtrArray *addresses = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; texts[i] != NULL; i++)
    g_ptr_array_add (addresses, g_inet_address_new_from_string (texts[i]));

  return addresses;
}

static GSocketConnection *
connect_to (GPtrArray     *addresses,
            guint16        port,
            guint          timeout_ms,
            GCancellable  *cancellable,
            GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  hg_connect_async (addresses, port, timeout_ms, cancellable, store_result_cb, &result);
  run_until_result (&result);

  return hg_connect_finish (result, error);
}

static guint16
remote_port (GSocketConnection *connection)
{
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);

  g_assert_nonnull (remote);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote));
}

/* Returns a port on 127.0.0.1 that nothing listens on: bound once by the
 * kernel's choice, then closed. */
static guint16
closed_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_connect_local (void)
{
  static const char * const texts[] = { "127.0.0.1", NULL };
  g_autoptr(Listener) listener = listener_new ();
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  GSocket *socket;
  gint nodelay = 0;

  connection = connect_to (addresses, listener->port, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (connection);
  g_assert_cmpuint (remote_port (connection), ==, listener->port);

  socket = g_socket_connection_get_socket (connection);
  g_assert_cmpuint (g_socket_get_timeout (socket), ==, 0);
  g_assert_true (g_socket_get_option (socket, IPPROTO_TCP, TCP_NODELAY, &nodelay, &error));
  g_assert_no_error (error);
  g_assert_cmpint (nodelay, !=, 0);

  run_until_count (&listener->accepted->len, 1);
}

static void
test_connect_skips_refused (void)
{
  /* The listener is on 127.0.0.1 only, so 127.0.0.2 refuses its port. */
  static const char * const texts[] = { "127.0.0.2", "127.0.0.1", NULL };
  g_autoptr(Listener) listener = listener_new ();
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autofree char *remote_text = NULL;

  connection = connect_to (addresses, listener->port, 2000, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (connection);

  remote = g_socket_connection_get_remote_address (connection, &error);
  g_assert_no_error (error);
  remote_text = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  g_assert_cmpstr (remote_text, ==, "127.0.0.1");

  run_until_count (&listener->accepted->len, 1);
}

static void
test_connect_all_refused (void)
{
  static const char * const texts[] = { "127.0.0.1", "127.0.0.2", NULL };
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  guint16 port = closed_port ();
  g_autofree char *port_text = g_strdup_printf ("port %u", port);
  g_autofree char *expected = g_strdup_printf ("could not connect to 127.0.0.1, 127.0.0.2 port %u: "
                                               "Connection refused", port);

  connection = connect_to (addresses, port, 2000, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, port_text));
  g_assert_nonnull (strstr (error->message, "127.0.0.1, 127.0.0.2"));
  g_assert_cmpstr (error->message, ==, expected);
}

/* IPv6 addresses are bracketed, so that their colons do not run into
 * the port or the reason. */
static void
test_connect_refused_ipv6 (void)
{
  static const char * const texts[] = { "::1", "127.0.0.1", NULL };
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  guint16 port = closed_port ();
  g_autofree char *expected = g_strdup_printf ("could not connect to [::1], 127.0.0.1 port %u: "
                                               "Connection refused", port);
  g_autoptr(GSocket) probe = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);

  if (probe == NULL || !g_socket_bind (probe, any_port, FALSE, NULL))
    {
      g_test_skip ("this machine has no IPv6 loopback address");
      return;
    }

  connection = connect_to (addresses, port, 2000, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpstr (error->message, ==, expected);
}

/* A listener that never accepts, with a backlog of 0 and one connection
 * already queued: Linux drops further SYNs, so a connect to it waits
 * like one to a host that drops every packet. */
typedef struct {
  GSocket *listening;
  GSocket *queued;
} StuckListener;

static StuckListener *
stuck_listener_new (const char *address_text,
                    guint16     port)
{
  StuckListener *stuck = g_new0 (StuckListener, 1);
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (address_text);
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  stuck->listening = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                   G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (stuck->listening, socket_address, FALSE, &error);
  g_assert_no_error (error);
  g_socket_set_listen_backlog (stuck->listening, 0);
  g_socket_listen (stuck->listening, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (stuck->listening, &error);
  g_assert_no_error (error);

  stuck->queued = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (stuck->queued, bound, NULL, &error);
  g_assert_no_error (error);

  return stuck;
}

static guint16
stuck_listener_get_port (StuckListener *stuck)
{
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address (stuck->listening, NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
stuck_listener_free (StuckListener *stuck)
{
  g_object_unref (stuck->queued);
  g_object_unref (stuck->listening);
  g_free (stuck);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StuckListener, stuck_listener_free)

static void
test_connect_timeout (void)
{
  static const char * const texts[] = { "127.0.0.1", NULL };
  g_autoptr(StuckListener) stuck = stuck_listener_new ("127.0.0.1", 0);
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  connection = connect_to (addresses, stuck_listener_get_port (stuck), 200, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;

  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "timed out after 200 ms"));
  g_assert_cmpint (elapsed_ms, >=, 150);
  g_assert_cmpint (elapsed_ms, <, 2000);
}

/* A timed-out address is skipped like a refused one. */
static void
test_connect_skips_timed_out (void)
{
  static const char * const texts[] = { "127.0.0.1", "127.0.0.2", NULL };
  g_autoptr(StuckListener) stuck = stuck_listener_new ("127.0.0.1", 0);
  guint16 port = stuck_listener_get_port (stuck);
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GInetAddress) second = g_inet_address_new_from_string ("127.0.0.2");
  g_autoptr(GSocketAddress) second_address = g_inet_socket_address_new (second, port);
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autofree char *remote_text = NULL;

  g_socket_listener_add_address (listener, second_address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error);
  g_assert_no_error (error);

  connection = connect_to (addresses, port, 200, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (connection);

  remote = g_socket_connection_get_remote_address (connection, &error);
  g_assert_no_error (error);
  remote_text = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
  g_assert_cmpstr (remote_text, ==, "127.0.0.2");
  g_assert_cmpuint (g_socket_get_timeout (g_socket_connection_get_socket (connection)), ==, 0);

  g_socket_listener_close (listener);
}

/* Addresses that fail differently are each named with their reason, and
 * the last one decides the code. */
static void
test_connect_mixed_failures (void)
{
  static const char * const texts[] = { "127.0.0.1", "127.0.0.2", NULL };
  g_autoptr(StuckListener) stuck = stuck_listener_new ("127.0.0.1", 0);
  guint16 port = stuck_listener_get_port (stuck);
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autofree char *expected = g_strdup_printf ("could not connect to port %u: "
                                               "127.0.0.1: connecting timed out after 200 ms; "
                                               "127.0.0.2: Connection refused", port);

  connection = connect_to (addresses, port, 200, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_strip_connect_prefix (void)
{
  static const struct {
    const char *message;
    const char *expected;
  } cases[] = {
    { "Error connecting: Connection refused", "Connection refused" },
    { "Could not connect: Connection refused", "Connection refused" },
    { "Could not connect to 127.0.0.1: Connection refused", "Connection refused" },
    { "Could not connect to 2001:db8::1: Network is unreachable", "Network is unreachable" },
    { "Could not connect to proxy server 127.0.0.1: Connection refused", "Connection refused" },
    { "Connection refused", "Connection refused" },
    { "Could not connect to nowhere", "Could not connect to nowhere" },
    { "", "" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (hg_strip_connect_prefix (cases[i].message), ==, cases[i].expected);
}

/* GLib's messages arrive translated in a German session; the prefix is
 * found in its translation. Runs in a subprocess that switches to German. */
static void
test_strip_connect_prefix_german (void)
{
  if (g_test_subprocess ())
    {
      switch_to_german ();
      g_assert_cmpstr (g_dgettext ("glib20", "Could not connect: "), !=, "Could not connect: ");

      g_assert_cmpstr (hg_strip_connect_prefix ("Verbindung ist gescheitert: Verbindungsaufbau abgelehnt"),
                       ==, "Verbindungsaufbau abgelehnt");
      g_assert_cmpstr (hg_strip_connect_prefix ("Verbindung mit 127.0.0.1 ist gescheitert: "
                                                "Verbindungsaufbau abgelehnt"),
                       ==, "Verbindungsaufbau abgelehnt");
      g_assert_cmpstr (hg_strip_connect_prefix ("Verbindung zum Proxy-Server 127.0.0.1 konnte nicht "
                                                "aufgebaut werden: Verbindungsaufbau abgelehnt"),
                       ==, "Verbindungsaufbau abgelehnt");
      return;
    }

  trap_german_subprocess ();
}

static void
test_connect_no_address (void)
{
  g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = connect_to (addresses, 443, 2000, NULL, &error);

  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_connect_cancelled (void)
{
  static const char * const texts[] = { "127.0.0.1", NULL };
  g_autoptr(Listener) listener = listener_new ();
  g_autoptr(GPtrArray) addresses = addresses_new (texts);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  g_cancellable_cancel (cancellable);
  connection = connect_to (addresses, listener->port, 2000, cancellable, &error);

  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  system_resolver = g_resolver_get_default ();

  g_test_add_func ("/resolver/pin/no-dns", test_pin_no_dns);
  g_test_add_func ("/resolver/pin/other-port", test_pin_other_port);
  g_test_add_func ("/resolver/pin/any-port", test_pin_any_port);
  g_test_add_func ("/resolver/pin/exact-port-wins", test_pin_exact_port_wins);
  g_test_add_func ("/resolver/pin/twice-rejected", test_pin_twice_rejected);
  g_test_add_func ("/resolver/pin/multiple", test_pin_multiple);

  for (guint i = 0; i < G_N_ELEMENTS (valid_pins); i++)
    {
      g_autofree char *path = g_strdup_printf ("/resolver/pin/valid/%u", i);
      g_test_add_data_func (path, &valid_pins[i], test_pin_valid);
    }

  for (guint i = 0; i < G_N_ELEMENTS (invalid_pins); i++)
    {
      g_autofree char *path = g_strdup_printf ("/resolver/pin/invalid/%s", invalid_pins[i].expected);
      g_test_add_data_func (path, &invalid_pins[i], test_pin_invalid);
    }
  g_test_add_func ("/resolver/pin/user-information", test_pin_user_information);

  g_test_add_func ("/resolver/literal", test_literal);
  g_test_add_func ("/resolver/localhost", test_localhost);
  g_test_add_func ("/resolver/dns/answer", test_dns_answer);
  g_test_add_func ("/resolver/dns/not-found", test_dns_not_found);
  g_test_add_func ("/resolver/dns/failed", test_dns_failed);
  g_test_add_func ("/resolver/dns/failed/german", test_dns_failed_german);
  g_test_add_func ("/resolver/dns/timeout", test_dns_timeout);
  g_test_add_func ("/resolver/dns/timeout-seconds", test_dns_timeout_seconds);
  g_test_add_func ("/resolver/dns/cancelled", test_dns_cancelled);
  g_test_add_func ("/resolver/dns/freed-while-pending", test_dns_freed_while_pending);

  g_test_add_func ("/connect/local", test_connect_local);
  g_test_add_func ("/connect/skips-refused", test_connect_skips_refused);
  g_test_add_func ("/connect/all-refused", test_connect_all_refused);
  g_test_add_func ("/connect/timeout", test_connect_timeout);
  g_test_add_func ("/connect/skips-timed-out", test_connect_skips_timed_out);
  g_test_add_func ("/connect/mixed-failures", test_connect_mixed_failures);
  g_test_add_func ("/connect/refused-ipv6", test_connect_refused_ipv6);
  g_test_add_func ("/connect/no-address", test_connect_no_address);
  g_test_add_func ("/connect/strip-prefix", test_strip_connect_prefix);
  g_test_add_func ("/connect/strip-prefix/german", test_strip_connect_prefix_german);
  g_test_add_func ("/connect/cancelled", test_connect_cancelled);

  return g_test_run ();
}
