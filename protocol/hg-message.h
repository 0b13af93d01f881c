/* hg-message.h: the messages hostgate-proxy and hostgate-agent exchange
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-profile.h"

G_BEGIN_DECLS

/* The protocol version both sides send in `hello` and `welcome`. */
#define HG_PROTOCOL_VERSION 1

/* The maximum length of one line in bytes, not counting its `\n`. */
#define HG_MESSAGE_MAX_LINE 65536

#define HG_MESSAGE_MAX_ID_LENGTH   128
#define HG_MESSAGE_MAX_HOST_LENGTH 255
#define HG_MESSAGE_MAX_TIMEOUT_MS  600000

/* The maximum nesting of arrays and objects in a line. The messages need
 * three levels; the rest is room for unknown fields. */
#define HG_MESSAGE_MAX_DEPTH 32

/* The `code` values of an `error` message. */
#define HG_ERROR_CODE_UNKNOWN_TYPE     "unknown-type"
#define HG_ERROR_CODE_INVALID_MESSAGE  "invalid-message"
#define HG_ERROR_CODE_VERSION_MISMATCH "version-mismatch"
#define HG_ERROR_CODE_NOT_ALLOWED      "not-allowed"
#define HG_ERROR_CODE_TOO_MANY_PROMPTS "too-many-prompts"
#define HG_ERROR_CODE_PROMPTS_PAUSED   "prompts-paused"

#define HG_MESSAGE_ERROR (hg_message_error_quark ())

/**
 * HgMessageError:
 * @HG_MESSAGE_ERROR_NOT_JSON: the line is not a strict JSON text (bad
 *   syntax, invalid UTF-8, a NUL byte, or nesting deeper than
 *   %HG_MESSAGE_MAX_DEPTH), so the connection must close
 * @HG_MESSAGE_ERROR_VERSION_MISMATCH: `hello` or `welcome` carries a
 *   protocol version other than %HG_PROTOCOL_VERSION
 *
 * Error codes in the %HG_MESSAGE_ERROR domain. A line that is valid JSON
 * but breaks a field rule fails with %HG_PROTOCOL_ERROR_INVALID_MESSAGE
 * instead, and the connection may continue.
 */
typedef enum {
  HG_MESSAGE_ERROR_NOT_JSON,
  HG_MESSAGE_ERROR_VERSION_MISMATCH,
} HgMessageError;

/**
 * HgMessageType:
 * @HG_MESSAGE_TYPE_UNKNOWN: a JSON object whose `type` this version does
 *   not know; #HgMessage.type_name contains it
 * @HG_MESSAGE_TYPE_HELLO: proxy → agent, first message of a connection
 * @HG_MESSAGE_TYPE_WELCOME: agent → proxy, the answer to `hello`
 * @HG_MESSAGE_TYPE_ASK: proxy → agent, a host waiting for a decision
 * @HG_MESSAGE_TYPE_DECISION: agent → proxy, the answer to `ask`
 * @HG_MESSAGE_TYPE_CANCEL: proxy → agent, withdraw an `ask`
 * @HG_MESSAGE_TYPE_FILTER: agent → proxy, a new filter for the profile
 * @HG_MESSAGE_TYPE_EVENT: proxy → agent, one audit record
 * @HG_MESSAGE_TYPE_PING: either way, asks for a `pong` with the same id
 * @HG_MESSAGE_TYPE_PONG: either way, the answer to `ping`
 * @HG_MESSAGE_TYPE_ERROR: either way, a problem with a received message
 */
typedef enum {
  HG_MESSAGE_TYPE_UNKNOWN,
  HG_MESSAGE_TYPE_HELLO,
  HG_MESSAGE_TYPE_WELCOME,
  HG_MESSAGE_TYPE_ASK,
  HG_MESSAGE_TYPE_DECISION,
  HG_MESSAGE_TYPE_CANCEL,
  HG_MESSAGE_TYPE_FILTER,
  HG_MESSAGE_TYPE_EVENT,
  HG_MESSAGE_TYPE_PING,
  HG_MESSAGE_TYPE_PONG,
  HG_MESSAGE_TYPE_ERROR,
} HgMessageType;

/* `kind` of an `ask`: a CONNECT tunnel or a plain HTTP request. */
typedef enum {
  HG_ASK_KIND_CONNECT,
  HG_ASK_KIND_HTTP,
} HgAskKind;

/* `verdict` of a `decision`. The proxy's HgVerdict is its own type, so
 * the proxy can use it without the wire protocol. */
typedef enum {
  HG_DECISION_APPROVE,
  HG_DECISION_DENY,
} HgDecisionVerdict;

/* `duration` of a `decision`. */
typedef enum {
  HG_DECISION_ONCE,
  HG_DECISION_SESSION,
  HG_DECISION_ALWAYS,
} HgDecisionDuration;

/* `reason` of a `cancel`. */
typedef enum {
  HG_CANCEL_REASON_TIMEOUT,
  HG_CANCEL_REASON_CLIENT_GONE,
} HgCancelReason;

/**
 * HgSessionInfo:
 * @id: the session id, unique per proxy run, 1–128 bytes
 * @label: (nullable): a name for the sandbox, for display
 * @profile: the profile the proxy uses, not empty
 * @pid: the proxy's process id, greater than 0
 * @command: (nullable): the sandboxed command line, for display
 *
 * The `session` object of a `hello`.
 */
typedef struct {
  char *id;
  char *label;
  char *profile;
  int pid;
  char *command;
} HgSessionInfo;

/**
 * HgFilterUpdate:
 * @profile: the profile the filter comes from, not empty
 * @revision: grows by one each time the agent changes the profile
 * @allow: allow-list entries, each valid for hg_pattern_parse()
 * @deny: deny-list entries, each valid for hg_pattern_parse() with
 *   %HG_PATTERN_FLAG_DENY
 * @approval_mode: `off` or `ask`
 * @approval_timeout_secs: from %HG_APPROVAL_TIMEOUT_MIN to
 *   %HG_APPROVAL_TIMEOUT_MAX
 * @forget_session: `forget_session` of a `filter` message: the proxy
 *   drops its session allow and deny entries before it applies the
 *   lists. Never read from or written to a `welcome`.
 *
 * The content of a `filter` message and of the `filter` object of a
 * `welcome`. It replaces the proxy's whole profile filter.
 */
typedef struct {
  char *profile;
  guint64 revision;
  GStrv allow;
  GStrv deny;
  HgApprovalMode approval_mode;
  guint approval_timeout_secs;
  gboolean forget_session;
} HgFilterUpdate;

/**
 * HgEvent:
 * @time: (nullable): when it happened, ISO 8601 with a time zone
 * @session: (nullable): the session id
 * @client: (nullable): the client's address
 * @method: (nullable): the HTTP method, `CONNECT` for tunnels
 * @host: (nullable): the requested host
 * @port: the requested port, or 0 when not set
 * @decision: (nullable): what the proxy did, such as `allow` or `deny`
 * @reason: (nullable): why, in words
 * @bytes_up: bytes sent to the origin, or -1 when not set
 * @bytes_down: bytes received from the origin, or -1 when not set
 * @duration_ms: how long the request took, or -1 when not set
 * @pattern: (nullable): the list entry that matched
 *
 * One audit record in an `event` message. Every field is optional; a
 * field that is present must have the right JSON type.
 */
typedef struct {
  char *time;
  char *session;
  char *client;
  char *method;
  char *host;
  guint16 port;
  char *decision;
  char *reason;
  gint64 bytes_up;
  gint64 bytes_down;
  gint64 duration_ms;
  char *pattern;
} HgEvent;

/**
 * HgMessage:
 * @type: which message this is
 * @type_name: the `type` string as received or sent; for
 *   %HG_MESSAGE_TYPE_UNKNOWN the only field that is set
 * @id: (nullable): `id` of `ask`, `decision`, `cancel`, `ping`, `pong`,
 *   and optionally of `error` (the id of the message it replies to)
 * @version: `version` of `hello` and `welcome`
 * @session: (nullable): `session` of `hello`
 * @filter: (nullable): `filter` of `welcome`, the content of `filter`
 * @event: (nullable): the content of `event`
 *
 * One wire message. Only the fields of its @type are set; the others are
 * %NULL or 0.
 */
typedef struct {
  HgMessageType type;
  char *type_name;
  char *id;
  guint version;
  HgSessionInfo *session;
  HgFilterUpdate *filter;
  HgEvent *event;

  struct {
    char *host;
    guint16 port;
    HgAskKind kind;
    guint timeout_ms;
  } ask;

  struct {
    HgDecisionVerdict verdict;
    HgDecisionDuration duration;
    char *pattern;
  } decision;

  struct {
    HgCancelReason reason;
  } cancel;

  struct {
    char *code;
    char *message;
  } error;
} HgMessage;

GQuark          hg_message_error_quark      (void);

HgSessionInfo  *hg_session_info_new         (const char           *id,
                                             const char           *label,
                                             const char           *profile,
                                             int                   pid,
                                             const char           *command);
HgSessionInfo  *hg_session_info_copy        (const HgSessionInfo  *info);
void            hg_session_info_free        (HgSessionInfo        *info);

HgFilterUpdate *hg_filter_update_new        (const char           *profile,
                                             guint64               revision,
                                             const char * const   *allow,
                                             const char * const   *deny,
                                             HgApprovalMode        approval_mode,
                                             guint                 approval_timeout_secs);
HgFilterUpdate *hg_filter_update_copy       (const HgFilterUpdate *filter);
void            hg_filter_update_free       (HgFilterUpdate       *filter);

HgEvent        *hg_event_new                (void);
HgEvent        *hg_event_copy               (const HgEvent        *event);
void            hg_event_free               (HgEvent              *event);

HgMessage      *hg_message_new_hello        (const HgSessionInfo  *session);
HgMessage      *hg_message_new_welcome      (const HgFilterUpdate *filter);
HgMessage      *hg_message_new_ask          (const char           *id,
                                             const char           *host,
                                             guint16               port,
                                             HgAskKind             kind,
                                             guint                 timeout_ms);
HgMessage      *hg_message_new_decision     (const char           *id,
                                             HgDecisionVerdict     verdict,
                                             HgDecisionDuration    duration,
                                             const char           *pattern);
HgMessage      *hg_message_new_cancel       (const char           *id,
                                             HgCancelReason        reason);
HgMessage      *hg_message_new_filter       (const HgFilterUpdate *filter);
HgMessage      *hg_message_new_event        (const HgEvent        *event);
HgMessage      *hg_message_new_ping         (const char           *id);
HgMessage      *hg_message_new_pong         (const char           *id);
HgMessage      *hg_message_new_error        (const char           *id,
                                             const char           *code,
                                             const char           *message);
HgMessage      *hg_message_copy             (const HgMessage      *message);
void            hg_message_free             (HgMessage            *message);

char           *hg_message_serialize        (const HgMessage      *message);
HgMessage      *hg_message_parse            (const char           *line,
                                             gsize                 length,
                                             GError              **error);

const char     *hg_message_error_to_code    (const GError         *error);
gboolean        hg_message_error_is_fatal   (const GError         *error);

const char     *hg_message_type_to_string   (HgMessageType         type);
const char     *hg_ask_kind_to_string       (HgAskKind             kind);
const char     *hg_decision_verdict_to_string  (HgDecisionVerdict  verdict);
const char     *hg_decision_duration_to_string (HgDecisionDuration duration);
const char     *hg_cancel_reason_to_string  (HgCancelReason        reason);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgSessionInfo, hg_session_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgFilterUpdate, hg_filter_update_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgEvent, hg_event_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgMessage, hg_message_free)

G_END_DECLS
