/* test-policy.c: the decision order of the proxy
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "hg-policy.h"

#include <string.h>

typedef struct {
  const char *path;
  const char *target;
  const char *allow;          /* comma-separated entries */
  const char *deny;
  gboolean allow_loopback;
  HgPolicyOutcome outcome;
  const char *reason;         /* expected substring, or NULL */
  const char *pattern;
} TargetCase;

static const TargetCase target_cases[] = {
  { "/policy/target/allow-exact", "a.test:443", "a.test", "", FALSE, HG_POLICY_ALLOW, NULL, "a.test" },
  { "/policy/target/allow-wildcard", "x.a.test:443", "*.a.test", "", FALSE, HG_POLICY_ALLOW, NULL, "*.a.test" },
  { "/policy/target/wildcard-apex", "a.test:443", "*.a.test", "", FALSE, HG_POLICY_UNMATCHED, NULL, NULL },
  { "/policy/target/unmatched", "b.test:443", "a.test", "", FALSE, HG_POLICY_UNMATCHED, NULL, NULL },
  { "/policy/target/deny-beats-allow", "a.test:443", "a.test", "a.test", FALSE, HG_POLICY_DENY, "deny list", "a.test" },
  { "/policy/target/deny-wildcard-allow-any", "x.ad.test:443", "*", "*.ad.test", FALSE, HG_POLICY_DENY, "\"*.ad.test\"", "*.ad.test" },
  { "/policy/target/deny-port-other-port", "p.test:80", "*", "p.test:443", FALSE, HG_POLICY_ALLOW, NULL, "*" },
  { "/policy/target/deny-port", "p.test:443", "*", "p.test:443", FALSE, HG_POLICY_DENY, "deny list", "p.test:443" },
  { "/policy/target/deny-cidr-literal", "10.1.2.3:443", "*", "10.0.0.0/8", FALSE, HG_POLICY_DENY, "deny list", "10.0.0.0/8" },
  { "/policy/target/metadata-name", "metadata.google.internal:80", "*", "", FALSE, HG_POLICY_DENY, "cloud metadata", NULL },
  { "/policy/target/metadata-address", "169.254.169.254:80", "*", "", TRUE, HG_POLICY_DENY, "cloud metadata", NULL },
  { "/policy/target/metadata-mapped", "[::ffff:169.254.169.254]:80", "*", "", TRUE, HG_POLICY_DENY, "cloud metadata", NULL },
  { "/policy/target/link-local", "169.254.7.7:80", "*", "", TRUE, HG_POLICY_DENY, "link-local", NULL },
  { "/policy/target/unspecified-v4", "0.0.0.0:80", "*", "", TRUE, HG_POLICY_DENY, "unspecified", NULL },
  { "/policy/target/unspecified-v6", "[::]:80", "*", "", TRUE, HG_POLICY_DENY, "unspecified", NULL },
  { "/policy/target/multicast", "239.1.2.3:80", "*", "", TRUE, HG_POLICY_DENY, "multicast", NULL },
  { "/policy/target/broadcast", "255.255.255.255:80", "*", "", TRUE, HG_POLICY_DENY, "broadcast", NULL },
  { "/policy/target/loopback-denied", "127.0.0.1:80", "*", "", FALSE, HG_POLICY_DENY, "(loopback); start the proxy with --allow-loopback", NULL },
  { "/policy/target/loopback-allowed", "127.0.0.1:80", "*", "", TRUE, HG_POLICY_ALLOW, NULL, "*" },
  { "/policy/target/localhost-denied", "localhost:80", "*", "", FALSE, HG_POLICY_DENY, "(loopback); start the proxy with --allow-loopback", NULL },
  { "/policy/target/sub-localhost-denied", "app.localhost:80", "*", "", FALSE, HG_POLICY_DENY, "loopback", NULL },
  { "/policy/target/localhost-allowed", "localhost:80", "*", "", TRUE, HG_POLICY_ALLOW, NULL, "*" },
  { "/policy/target/own-port", "127.0.0.1:8080", "*", "", TRUE, HG_POLICY_DENY, "own address", NULL },
  { "/policy/target/own-port-other-loopback", "127.9.9.9:8080", "*", "", TRUE, HG_POLICY_DENY, "own address", NULL },
  { "/policy/target/own-port-v6-loopback", "[::1]:8080", "*", "", TRUE, HG_POLICY_DENY, "own address", NULL },
  { "/policy/target/own-address-other-port", "127.0.0.1:8081", "*", "", TRUE, HG_POLICY_ALLOW, NULL, "*" },
  { "/policy/target/private-allowed", "10.1.2.3:443", "10.0.0.0/8", "", FALSE, HG_POLICY_ALLOW, NULL, "10.0.0.0/8" },
};

static HgFilter *
filter_from_list (const char     *list,
                  HgPatternFlags  flags)
{
  g_auto(GStrv) entries = g_strsplit (list, ",", -1);
  HgFilter *filter = hg_filter_new ();

  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;

      if (entries[i][0] == '\0')
        continue;
      g_assert_true (hg_filter_add (filter, entries[i], flags, &error));
      g_assert_no_error (error);
    }

  return filter;
}

static GPtrArray *
own_addresses (void)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_from_string ("127.0.0.1");
  g_autoptr(GSocketAddress) bound = g_inet_socket_address_new (loopback, 8080);

  return hg_own_addresses_new (G_INET_SOCKET_ADDRESS (bound));
}

static HgPolicy *
policy_new (const char *allow,
            const char *deny,
            gboolean    allow_loopback)
{
  g_autoptr(HgFilter) allow_filter = filter_from_list (allow, HG_PATTERN_FLAG_NONE);
  g_autoptr(HgFilter) deny_filter = filter_from_list (deny, HG_PATTERN_FLAG_DENY);

  return hg_policy_new (allow_filter, deny_filter, allow_loopback);
}

static void
test_target (gconstpointer data)
{
  const TargetCase *test = data;
  g_autoptr(HgPolicy) policy = policy_new (test->allow, test->deny, test->allow_loopback);
  g_autoptr(GPtrArray) own = own_addresses ();
  g_autoptr(HgHost) target = NULL;
  g_autoptr(HgDecision) decision = NULL;
  g_autoptr(GError) error = NULL;

  target = hg_host_parse (test->target, HG_HOST_PORT_REQUIRED, &error);
  g_assert_no_error (error);

  decision = hg_policy_check_target (policy, own, target);
  g_assert_cmpint (decision->kind, ==, test->outcome);
  g_assert_cmpstr (decision->pattern, ==, test->pattern);
  if (test->outcome == HG_POLICY_DENY)
    g_assert_cmpuint (decision->status, ==, 403);
  if (test->reason != NULL)
    g_assert_nonnull (strstr (decision->reason, test->reason));
}

/* A refusal names a person's Session denial as such, since its entry is
 * in no file, and a profile's entry by its pattern. */
static void
test_target_session_deny (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("", "no.test,*.profile.test", FALSE);
  g_autoptr(HgFilter) session_deny = filter_from_list ("no.test", HG_PATTERN_FLAG_DENY);
  g_autoptr(GPtrArray) own = own_addresses ();
  g_autoptr(HgHost) session_target = hg_host_parse ("no.test:443", HG_HOST_PORT_REQUIRED, NULL);
  g_autoptr(HgHost) profile_target = hg_host_parse ("a.profile.test:443", HG_HOST_PORT_REQUIRED, NULL);
  g_autoptr(HgDecision) session_decision = NULL;
  g_autoptr(HgDecision) profile_decision = NULL;

  hg_policy_set_session_deny (policy, session_deny);

  session_decision = hg_policy_check_target (policy, own, session_target);
  g_assert_cmpint (session_decision->kind, ==, HG_POLICY_DENY);
  g_assert_cmpstr (session_decision->reason, ==, "\"no.test\" was denied by the user for this session");
  g_assert_cmpstr (session_decision->pattern, ==, "no.test");

  profile_decision = hg_policy_check_target (policy, own, profile_target);
  g_assert_cmpint (profile_decision->kind, ==, HG_POLICY_DENY);
  g_assert_cmpstr (profile_decision->reason, ==,
                   "\"a.profile.test\" is denied by the deny list entry \"*.profile.test\"");
}

typedef struct {
  const char *path;
  const char *addresses;  /* comma-separated */
  const char *deny;
  gboolean allow_loopback;
  HgPolicyOutcome outcome;
  const char *reason;
} AddressCase;

static const AddressCase address_cases[] = {
  { "/policy/addresses/public", "203.0.113.5", "", FALSE, HG_POLICY_ALLOW, NULL },
  { "/policy/addresses/public-and-link-local", "203.0.113.5,169.254.1.1", "", FALSE, HG_POLICY_DENY, "resolves to 169.254.1.1 (link-local)" },
  { "/policy/addresses/metadata", "169.254.169.254", "", FALSE, HG_POLICY_DENY, "\"n.test\" resolves to 169.254.169.254 (cloud metadata)" },
  { "/policy/addresses/mapped-metadata", "::ffff:169.254.169.254", "", FALSE, HG_POLICY_DENY, "cloud metadata" },
  { "/policy/addresses/unspecified", "0.0.0.0", "", FALSE, HG_POLICY_DENY, "unspecified" },
  { "/policy/addresses/loopback-denied", "127.0.0.1", "", FALSE, HG_POLICY_DENY, "resolves to 127.0.0.1 (loopback); start the proxy with --allow-loopback" },
  { "/policy/addresses/loopback-allowed", "127.0.0.1,::1", "", TRUE, HG_POLICY_ALLOW, NULL },
  { "/policy/addresses/own-port", "127.0.0.1", "", TRUE, HG_POLICY_DENY, "own address" },
  { "/policy/addresses/deny-cidr", "203.0.113.5,10.0.0.1", "10.0.0.0/8", FALSE, HG_POLICY_DENY, "\"n.test\" resolves to 10.0.0.1, which the deny list entry \"10.0.0.0/8\" denies" },
  { "/policy/addresses/deny-address", "2001:db8::1", "[2001:db8::1]", FALSE, HG_POLICY_DENY, "deny list" },
};

static void
test_addresses (gconstpointer data)
{
  const AddressCase *test = data;
  g_autoptr(HgPolicy) policy = policy_new ("*", test->deny, test->allow_loopback);
  g_autoptr(GPtrArray) own = own_addresses ();
  g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GStrv) texts = g_strsplit (test->addresses, ",", -1);
  g_autoptr(HgDecision) decision = NULL;
  /* The own-port case connects to port 8080, the proxy's. */
  g_autoptr(HgHost) target = hg_host_parse (strstr (test->path, "own-port") != NULL ? "n.test:8080" : "n.test:443",
                                            HG_HOST_PORT_REQUIRED, NULL);

  for (guint i = 0; texts[i] != NULL; i++)
    g_ptr_array_add (addresses, g_inet_address_new_from_string (texts[i]));

  decision = hg_policy_check_addresses (policy, own, target, addresses);
  g_assert_cmpint (decision->kind, ==, test->outcome);
  if (test->reason != NULL)
    g_assert_nonnull (strstr (decision->reason, test->reason));
}

/* An approver that approves everything, counting the questions. */
#define TEST_TYPE_APPROVER (test_approver_get_type ())
G_DECLARE_FINAL_TYPE (TestApprover, test_approver, TEST, APPROVER, GObject)

struct _TestApprover
{
  GObject parent_instance;
  guint asked;
};

static void test_approver_iface_init (HgApproverInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestApprover, test_approver, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (HG_TYPE_APPROVER, test_approver_iface_init))

static gboolean
test_approver_ask_async (HgApprover          *approver,
                         const HgHost        *target,
                         const char          *kind,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (approver, cancellable, callback, user_data);

  TEST_APPROVER (approver)->asked++;
  g_task_return_pointer (task, hg_approval_new (HG_VERDICT_APPROVE, HG_DURATION_ONCE, target->name, NULL),
                         (GDestroyNotify) hg_approval_free);

  return FALSE;
}

static HgApproval *
test_approver_ask_finish (HgApprover   *approver,
                          GAsyncResult *result,
                          GError      **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_approver_iface_init (HgApproverInterface *iface)
{
  iface->ask_async = test_approver_ask_async;
  iface->ask_finish = test_approver_ask_finish;
}

static void
test_approver_class_init (TestApproverClass *klass)
{
}

static void
test_approver_init (TestApprover *self)
{
}

static void
decide_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  HgDecision **decision = user_data;
  g_autoptr(GError) error = NULL;

  *decision = hg_policy_decide_finish (NULL, result, &error);
  g_assert_no_error (error);
}

static gboolean
timeout_cb (gpointer user_data)
{
  g_error ("the decision did not complete in time");
  return G_SOURCE_REMOVE;
}

static HgDecision *
decide (HgPolicy   *policy,
        HgApprover *approver,
        HgResolver *resolver,
        const char *text)
{
  g_autoptr(GPtrArray) own = own_addresses ();
  g_autoptr(HgHost) target = hg_host_parse (text, HG_HOST_PORT_REQUIRED, NULL);
  HgPolicyContext context = { approver, resolver, own };
  HgDecision *decision = NULL;
  guint timeout_id = g_timeout_add_seconds (10, timeout_cb, NULL);

  hg_policy_decide_async (policy, &context, target, "connect", TRUE, NULL, decide_cb, &decision);
  while (decision == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);

  return decision;
}

/* A GResolver whose every lookup fails as GLib 2.74's fails for an
 * unknown name, so that no name reaches real DNS. */
#define TEST_TYPE_FAILING_RESOLVER (test_failing_resolver_get_type ())
G_DECLARE_FINAL_TYPE (TestFailingResolver, test_failing_resolver, TEST, FAILING_RESOLVER, GResolver)

struct _TestFailingResolver
{
  GResolver parent_instance;
};

G_DEFINE_FINAL_TYPE (TestFailingResolver, test_failing_resolver, G_TYPE_RESOLVER)

static void
test_failing_lookup_async (GResolver                *resolver,
                           const char               *hostname,
                           GResolverNameLookupFlags  flags,
                           GCancellable             *cancellable,
                           GAsyncReadyCallback       callback,
                           gpointer                  user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);

  g_task_return_new_error (task, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                           "Error resolving “%s”: Name or service not known", hostname);
}

static void
test_failing_lookup_by_name_async (GResolver           *resolver,
                                   const char          *hostname,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  test_failing_lookup_async (resolver, hostname, G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
                             cancellable, callback, user_data);
}

static GList *
test_failing_lookup_finish (GResolver     *resolver,
                            GAsyncResult  *result,
                            GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_failing_resolver_class_init (TestFailingResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  resolver_class->lookup_by_name_async = test_failing_lookup_by_name_async;
  resolver_class->lookup_by_name_finish = test_failing_lookup_finish;
  resolver_class->lookup_by_name_with_flags_async = test_failing_lookup_async;
  resolver_class->lookup_by_name_with_flags_finish = test_failing_lookup_finish;
}

static void
test_failing_resolver_init (TestFailingResolver *self)
{
}

static void
test_decide_lookup_failed (void)
{
  g_autoptr(GResolver) system_resolver = g_resolver_get_default ();
  g_autoptr(GResolver) failing = g_object_new (TEST_TYPE_FAILING_RESOLVER, NULL);
  g_autoptr(HgPolicy) policy = policy_new ("gone.test", "", FALSE);
  g_autoptr(HgApprover) approver = hg_deny_approver_new ();
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) decision = NULL;

  g_resolver_set_default (failing);
  decision = decide (policy, approver, resolver, "gone.test:443");
  g_resolver_set_default (system_resolver);

  g_assert_cmpint (decision->kind, ==, HG_POLICY_ERROR);
  g_assert_cmpuint (decision->status, ==, 502);
  g_assert_cmpstr (decision->reason, ==, "could not resolve \"gone.test\": Name or service not known");
  g_assert_cmpstr (decision->pattern, ==, "gone.test");
}

static void
test_decide_unmatched_not_resolved (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("a.test", "", FALSE);
  g_autoptr(HgApprover) approver = hg_deny_approver_new ();
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) decision = NULL;

  decision = decide (policy, approver, resolver, "unlisted.test:443");
  g_assert_cmpint (decision->kind, ==, HG_POLICY_DENY);
  g_assert_cmpuint (decision->status, ==, 403);
  g_assert_cmpstr (decision->reason, ==, "not in the allow list");
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 0);
}

static void
test_decide_denied_not_resolved (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("*", "bad.test", FALSE);
  g_autoptr(HgApprover) approver = hg_deny_approver_new ();
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) decision = NULL;

  decision = decide (policy, approver, resolver, "bad.test:443");
  g_assert_cmpint (decision->kind, ==, HG_POLICY_DENY);
  g_assert_cmpuint (hg_resolver_get_lookup_count (resolver), ==, 0);
}

static void
test_decide_allowed_pinned (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("ok.test", "", FALSE);
  g_autoptr(HgApprover) approver = hg_deny_approver_new ();
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) decision = NULL;
  g_autofree char *first = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "ok.test:443:203.0.113.5,198.51.100.7", NULL));
  decision = decide (policy, approver, resolver, "ok.test:443");
  g_assert_cmpint (decision->kind, ==, HG_POLICY_ALLOW);
  g_assert_cmpstr (decision->pattern, ==, "ok.test");
  g_assert_nonnull (decision->addresses);
  g_assert_cmpuint (decision->addresses->len, ==, 2);
  first = g_inet_address_to_string (g_ptr_array_index (decision->addresses, 0));
  g_assert_cmpstr (first, ==, "203.0.113.5");
}

static void
test_decide_pinned_metadata (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("*", "", FALSE);
  g_autoptr(HgApprover) approver = hg_deny_approver_new ();
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) decision = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "evil.test:80:169.254.169.254", NULL));
  decision = decide (policy, approver, resolver, "evil.test:80");
  g_assert_cmpint (decision->kind, ==, HG_POLICY_DENY);
  g_assert_cmpstr (decision->reason, ==, "\"evil.test\" resolves to 169.254.169.254 (cloud metadata)");
  g_assert_null (decision->addresses);
}

static void
test_decide_approved_still_vetted (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("", "", FALSE);
  g_autoptr(TestApprover) approver = g_object_new (TEST_TYPE_APPROVER, NULL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  g_autoptr(HgDecision) good = NULL;
  g_autoptr(HgDecision) bad = NULL;

  g_assert_true (hg_resolver_add_pin (resolver, "good.test:443:203.0.113.5", NULL));
  g_assert_true (hg_resolver_add_pin (resolver, "bad.test:443:169.254.1.1", NULL));

  good = decide (policy, HG_APPROVER (approver), resolver, "good.test:443");
  g_assert_cmpint (good->kind, ==, HG_POLICY_ALLOW);
  g_assert_cmpstr (good->pattern, ==, "good.test");

  bad = decide (policy, HG_APPROVER (approver), resolver, "bad.test:443");
  g_assert_cmpint (bad->kind, ==, HG_POLICY_DENY);
  g_assert_nonnull (strstr (bad->reason, "link-local"));
  g_assert_cmpuint (approver->asked, ==, 2);
}

static void
test_decide_hard_deny_not_asked (void)
{
  g_autoptr(HgPolicy) policy = policy_new ("", "blocked.test", FALSE);
  g_autoptr(TestApprover) approver = g_object_new (TEST_TYPE_APPROVER, NULL);
  g_autoptr(HgResolver) resolver = hg_resolver_new (1000);
  const char *targets[] = { "169.254.169.254:80", "metadata.goog:80", "blocked.test:443", "localhost:80" };

  for (gsize i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr(HgDecision) decision = decide (policy, HG_APPROVER (approver), resolver, targets[i]);

      g_assert_cmpint (decision->kind, ==, HG_POLICY_DENY);
    }
  g_assert_cmpuint (approver->asked, ==, 0);
}

static void
test_own_addresses_unspecified (void)
{
  g_autoptr(GInetAddress) any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) bound = g_inet_socket_address_new (any, 3128);
  g_autoptr(GPtrArray) own = hg_own_addresses_new (G_INET_SOCKET_ADDRESS (bound));
  g_autoptr(HgPolicy) policy = policy_new ("*", "", TRUE);
  gboolean has_loopback = FALSE;

  /* Every interface address is listed, loopback's included, all with the
   * bound port. */
  g_assert_cmpuint (own->len, >, 1);
  for (guint i = 0; i < own->len; i++)
    {
      GInetSocketAddress *address = g_ptr_array_index (own, i);

      g_assert_cmpuint (g_inet_socket_address_get_port (address), ==, 3128);
      if (g_inet_address_get_is_loopback (g_inet_socket_address_get_address (address)))
        has_loopback = TRUE;
    }
  g_assert_true (has_loopback);

  for (guint i = 1; i < own->len; i++)
    {
      GInetAddress *address = g_inet_socket_address_get_address (g_ptr_array_index (own, i));
      g_autofree char *text = g_inet_address_to_string (address);
      g_autoptr(GPtrArray) addresses = g_ptr_array_new_with_free_func (g_object_unref);
      g_autoptr(HgHost) target = hg_host_parse ("self.test:3128", HG_HOST_PORT_REQUIRED, NULL);
      g_autoptr(HgDecision) decision = NULL;

      g_ptr_array_add (addresses, g_object_ref (address));
      decision = hg_policy_check_addresses (policy, own, target, addresses);
      g_assert_cmpint (decision->kind, ==, HG_POLICY_DENY);
      g_test_message ("%s:3128 is denied: %s", text, decision->reason);
    }
}

static void
test_policy_refcount (void)
{
  g_autoptr(HgFilter) allow = hg_filter_new ();
  g_autoptr(HgFilter) deny = hg_filter_new ();
  HgPolicy *policy = hg_policy_new (allow, deny, TRUE);

  g_assert_true (hg_policy_ref (policy) == policy);
  hg_policy_unref (policy);
  g_assert_true (hg_policy_get_allow (policy) == allow);
  g_assert_true (hg_policy_get_deny (policy) == deny);
  g_assert_true (hg_policy_get_allow_loopback (policy));
  hg_policy_unref (policy);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (target_cases); i++)
    g_test_add_data_func (target_cases[i].path, &target_cases[i], test_target);
  for (gsize i = 0; i < G_N_ELEMENTS (address_cases); i++)
    g_test_add_data_func (address_cases[i].path, &address_cases[i], test_addresses);

  g_test_add_func ("/policy/decide/unmatched-not-resolved", test_decide_unmatched_not_resolved);
  g_test_add_func ("/policy/decide/denied-not-resolved", test_decide_denied_not_resolved);
  g_test_add_func ("/policy/decide/allowed-pinned", test_decide_allowed_pinned);
  g_test_add_func ("/policy/decide/lookup-failed", test_decide_lookup_failed);
  g_test_add_func ("/policy/decide/pinned-metadata", test_decide_pinned_metadata);
  g_test_add_func ("/policy/decide/approved-still-vetted", test_decide_approved_still_vetted);
  g_test_add_func ("/policy/decide/hard-deny-not-asked", test_decide_hard_deny_not_asked);
  g_test_add_func ("/policy/own-addresses/unspecified", test_own_addresses_unspecified);
  g_test_add_func ("/policy/target/session-deny", test_target_session_deny);
  g_test_add_func ("/policy/refcount", test_policy_refcount);

  return g_test_run ();
}
