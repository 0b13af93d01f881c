/* hg-prompt.c: one pending request for a person's decision
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <libpsl.h>
#include <string.h>

#include "hg-prompt.h"

/**
 * HgPrompt:
 *
 * A request from a proxy session waiting for the person: the `ask` id,
 * the host and port, and the deadline after which it counts as denied
 * once. The prompt refers to its session weakly: once the session is
 * gone, hg_prompt_get_session() returns %NULL.
 */
struct _HgPrompt
{
  GObject parent_instance;

  HgAgentSession *session;
  char *id;
  char *host;
  guint16 port;
  HgAskKind kind;
  gint64 deadline;
  char *registrable;

  guint timeout_id;
};

G_DEFINE_FINAL_TYPE (HgPrompt, hg_prompt, G_TYPE_OBJECT)

enum {
  EXPIRED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
hg_prompt_dispose (GObject *object)
{
  HgPrompt *prompt = HG_PROMPT (object);

  g_clear_handle_id (&prompt->timeout_id, g_source_remove);
  if (prompt->session != NULL)
    g_object_remove_weak_pointer (G_OBJECT (prompt->session), (gpointer *) &prompt->session);
  prompt->session = NULL;

  G_OBJECT_CLASS (hg_prompt_parent_class)->dispose (object);
}

static void
hg_prompt_finalize (GObject *object)
{
  HgPrompt *prompt = HG_PROMPT (object);

  g_free (prompt->id);
  g_free (prompt->host);
  g_free (prompt->registrable);

  G_OBJECT_CLASS (hg_prompt_parent_class)->finalize (object);
}

static void
hg_prompt_class_init (HgPromptClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hg_prompt_dispose;
  object_class->finalize = hg_prompt_finalize;

  /**
   * HgPrompt::expired:
   *
   * Emitted once when the deadline passes before the person answered.
   * The agent then withdraws the prompt without a decision, and the
   * proxy's own timer denies the request once.
   */
  signals[EXPIRED] =
    g_signal_new ("expired", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
hg_prompt_init (HgPrompt *prompt)
{
}

static gboolean
expire_cb (gpointer user_data)
{
  HgPrompt *prompt = user_data;

  prompt->timeout_id = 0;
  g_signal_emit (prompt, signals[EXPIRED], 0);
  return G_SOURCE_REMOVE;
}

/* Returns the registrable domain of @host by the built-in public suffix
 * list when it differs from @host itself, else NULL. */
static char *
find_registrable_domain (const char *host)
{
  const char *registrable;

  if (strchr (host, ':') != NULL || g_hostname_is_ip_address (host))
    return NULL;

  registrable = psl_registrable_domain (psl_builtin (), host);
  if (registrable == NULL || g_str_equal (registrable, host))
    return NULL;

  return g_strdup (registrable);
}

/**
 * hg_prompt_new:
 * @session: the session that sent the `ask`
 * @timeout_ms: how long the proxy waits; the prompt expires then
 *
 * Creates a prompt for an `ask` and starts its deadline.
 *
 * Returns: (transfer full): the prompt
 */
HgPrompt *
hg_prompt_new (HgAgentSession *session,
               const char     *id,
               const char     *host,
               guint16         port,
               HgAskKind       kind,
               guint           timeout_ms)
{
  HgPrompt *prompt;

  g_return_val_if_fail (G_IS_OBJECT (session), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (host != NULL, NULL);

  prompt = g_object_new (HG_TYPE_PROMPT, NULL);
  prompt->session = session;
  g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &prompt->session);
  prompt->id = g_strdup (id);
  prompt->port = port;
  prompt->kind = kind;
  prompt->deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  /* IPv6 literals come with or without brackets; list entries need them. */
  if (strchr (host, ':') != NULL && host[0] != '[')
    prompt->host = g_strdup_printf ("[%s]", host);
  else
    prompt->host = g_strdup (host);

  prompt->registrable = find_registrable_domain (prompt->host);
  prompt->timeout_id = g_timeout_add (timeout_ms, expire_cb, prompt);

  return prompt;
}

/**
 * hg_prompt_stop_timer:
 *
 * Stops the deadline, so #HgPrompt::expired is not emitted any more.
 * Called once the prompt is answered or withdrawn.
 */
void
hg_prompt_stop_timer (HgPrompt *prompt)
{
  g_return_if_fail (HG_IS_PROMPT (prompt));

  g_clear_handle_id (&prompt->timeout_id, g_source_remove);
}

/**
 * hg_prompt_get_session:
 *
 * Returns: (transfer none) (nullable): the session, or %NULL once it is gone
 */
HgAgentSession *
hg_prompt_get_session (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  return prompt->session;
}

const char *
hg_prompt_get_id (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  return prompt->id;
}

/**
 * hg_prompt_get_host:
 *
 * Returns: the requested host; an IPv6 address is in brackets
 */
const char *
hg_prompt_get_host (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  return prompt->host;
}

/**
 * hg_prompt_dup_target_text:
 *
 * Formats the host and port for a wrapping label, as `host:port`, with a
 * word joiner (U+2060) after each `-` and on both sides of each `:`. A
 * line then breaks before the whole target rather than at a hyphen or a
 * colon, where `my-bank.example` would read as two words. A target
 * longer than a line still breaks between characters.
 *
 * Returns: (transfer full): the text
 */
char *
hg_prompt_dup_target_text (HgPrompt *prompt)
{
  g_autofree char *target = NULL;
  GString *text;

  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  target = g_strdup_printf ("%s:%u", prompt->host, prompt->port);
  text = g_string_sized_new (strlen (target) * 2);
  for (const char *p = target; *p != '\0'; p++)
    {
      if (*p == ':')
        g_string_append (text, "\u2060");
      g_string_append_c (text, *p);
      if (*p == '-' || *p == ':')
        g_string_append (text, "\u2060");
    }

  return g_string_free (text, FALSE);
}

guint16
hg_prompt_get_port (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), 0);

  return prompt->port;
}

HgAskKind
hg_prompt_get_kind (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), HG_ASK_KIND_CONNECT);

  return prompt->kind;
}

/**
 * hg_prompt_get_deadline:
 *
 * Returns: the deadline in g_get_monotonic_time() microseconds
 */
gint64
hg_prompt_get_deadline (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), 0);

  return prompt->deadline;
}

/**
 * hg_prompt_get_remaining_ms:
 *
 * Returns: the milliseconds left before the deadline, 0 once it passed
 */
gint64
hg_prompt_get_remaining_ms (HgPrompt *prompt)
{
  gint64 remaining;

  g_return_val_if_fail (HG_IS_PROMPT (prompt), 0);

  remaining = (prompt->deadline - g_get_monotonic_time ()) / 1000;
  return MAX (remaining, 0);
}

/**
 * hg_prompt_get_registrable_domain:
 *
 * Returns: (nullable): the registrable domain of the host (such as
 *   `example.co.uk` for `www.example.co.uk`), or %NULL when the host is
 *   an address, a public suffix, or already the registrable domain
 */
const char *
hg_prompt_get_registrable_domain (HgPrompt *prompt)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  return prompt->registrable;
}

/**
 * hg_prompt_dup_pattern:
 * @whole_domain: whether the answer covers the registrable domain
 *
 * Builds the `pattern` of the `decision`: `*.DOMAIN` when the answer
 * covers the registrable domain and its subdomains, else the host.
 *
 * Returns: (transfer full): the pattern
 */
char *
hg_prompt_dup_pattern (HgPrompt *prompt,
                       gboolean  whole_domain)
{
  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  if (whole_domain && prompt->registrable != NULL)
    return g_strconcat ("*.", prompt->registrable, NULL);

  return g_strdup (prompt->host);
}

/**
 * hg_prompt_dup_entries:
 * @whole_domain: whether the answer covers the registrable domain
 *
 * Builds the profile entries an Always answer writes: `DOMAIN` and
 * `*.DOMAIN` for the registrable domain, else the host alone.
 *
 * Returns: (transfer full): the entries
 */
GStrv
hg_prompt_dup_entries (HgPrompt *prompt,
                       gboolean  whole_domain)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (HG_IS_PROMPT (prompt), NULL);

  if (whole_domain && prompt->registrable != NULL)
    {
      g_autofree char *wildcard = g_strconcat ("*.", prompt->registrable, NULL);

      g_strv_builder_add (builder, prompt->registrable);
      g_strv_builder_add (builder, wildcard);
    }
  else
    {
      g_strv_builder_add (builder, prompt->host);
    }

  return g_strv_builder_end (builder);
}
