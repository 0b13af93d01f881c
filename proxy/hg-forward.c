/* hg-forward.c: forwarding plain absolute-form HTTP requests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The forwarder reads the request body itself, sends the request with a
 * SoupSession and streams the response back to the client, one buffer at
 * a time. Each session connects only to the addresses the policy vetted:
 * its remote-connectable is an HgAddressList, which enumerates exactly
 * those socket addresses and resolves nothing, so libsoup never looks a
 * name up and never connects anywhere else. Through an upstream proxy,
 * the list contains the upstream's addresses instead.
 *
 * Connections are pooled (no SOUP_MESSAGE_NEW_CONNECTION): a session is
 * pinned to one set of vetted addresses and one port, so a reused
 * connection always leads to an address that was vetted for the request
 * that reuses it.
 *
 * A session serves one forward at a time, so it has one connection.
 * Each time libsoup runs its queue, and for every request, it reads a
 * byte from each idle connection of the session to see whether it is
 * still open. A session shared by all clients of one origin held dozens
 * of idle connections, and those reads took about a fifth of the CPU
 * time of a forwarded request. The forwarder keeps the pool itself
 * instead: a forward takes an idle session for its host name and
 * addresses, or a new one, and gives it back once the response was
 * relayed whole.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "hg-forward.h"
#include "hg-resolver.h"
#include "hg-tunnel.h"
#include "hg-upstream.h"

/* The maximum response body held for one request, in bytes: each read
 * from the origin waits until the previous buffer reached the client. */
#define FORWARD_BUFFER_SIZE (64 * 1024)

/* Room for a chunk-size line sent to the client: hex digits and CRLF. */
#define CHUNK_HEADER_MAX 32

/* The maximum length of a chunk-size line from a client, extensions
 * included, and the maximum trailer bytes read (and discarded) after the
 * last chunk. */
#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX HG_REQUEST_HEAD_MAX

/* Sets of vetted addresses whose idle sessions are kept, least recently
 * used dropped first. A dropped session closes its idle connection; a
 * request still running keeps its session alive until it ends. */
#define SESSION_POOLS_MAX 64

/* ------------------------------------------------------------------ */
/* HgAddressList: a GSocketConnectable over fixed socket addresses     */

#define HG_TYPE_ADDRESS_LIST (hg_address_list_get_type ())
G_DECLARE_FINAL_TYPE (HgAddressList, hg_address_list, HG, ADDRESS_LIST, GObject)

#define HG_TYPE_ADDRESS_LIST_ENUMERATOR (hg_address_list_enumerator_get_type ())
G_DECLARE_FINAL_TYPE (HgAddressListEnumerator, hg_address_list_enumerator,
                      HG, ADDRESS_LIST_ENUMERATOR, GSocketAddressEnumerator)

struct _HgAddressList
{
  GObject parent_instance;

  GPtrArray *addresses;  /* (element-type GInetSocketAddress) */
};

struct _HgAddressListEnumerator
{
  GSocketAddressEnumerator parent_instance;

  GPtrArray *addresses;
  guint next;
};

static void hg_address_list_connectable_init (GSocketConnectableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HgAddressList, hg_address_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_SOCKET_CONNECTABLE,
                                                      hg_address_list_connectable_init))

G_DEFINE_FINAL_TYPE (HgAddressListEnumerator, hg_address_list_enumerator,
                     G_TYPE_SOCKET_ADDRESS_ENUMERATOR)

static GSocketAddress *
hg_address_list_enumerator_next (GSocketAddressEnumerator  *enumerator,
                                 GCancellable              *cancellable,
                                 GError                   **error)
{
  HgAddressListEnumerator *self = HG_ADDRESS_LIST_ENUMERATOR (enumerator);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (self->next >= self->addresses->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->addresses, self->next++));
}

static void
hg_address_list_enumerator_finalize (GObject *object)
{
  HgAddressListEnumerator *self = HG_ADDRESS_LIST_ENUMERATOR (object);

  g_clear_pointer (&self->addresses, g_ptr_array_unref);

  G_OBJECT_CLASS (hg_address_list_enumerator_parent_class)->finalize (object);
}

static void
hg_address_list_enumerator_class_init (HgAddressListEnumeratorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GSocketAddressEnumeratorClass *enumerator_class = G_SOCKET_ADDRESS_ENUMERATOR_CLASS (klass);

  object_class->finalize = hg_address_list_enumerator_finalize;
  /* The parent class runs next() for next_async(), and next() only
   * reads the list. */
  enumerator_class->next = hg_address_list_enumerator_next;
}

static void
hg_address_list_enumerator_init (HgAddressListEnumerator *self)
{
}

static GSocketAddressEnumerator *
hg_address_list_enumerate (GSocketConnectable *connectable)
{
  HgAddressList *self = HG_ADDRESS_LIST (connectable);
  HgAddressListEnumerator *enumerator;

  enumerator = g_object_new (HG_TYPE_ADDRESS_LIST_ENUMERATOR, NULL);
  enumerator->addresses = g_ptr_array_ref (self->addresses);

  return G_SOCKET_ADDRESS_ENUMERATOR (enumerator);
}

static char *
hg_address_list_to_string (GSocketConnectable *connectable)
{
  HgAddressList *self = HG_ADDRESS_LIST (connectable);
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < self->addresses->len; i++)
    {
      g_autofree char *address = NULL;

      address = g_socket_connectable_to_string (g_ptr_array_index (self->addresses, i));
      if (i > 0)
        g_string_append (text, ", ");
      g_string_append (text, address);
    }

  return g_string_free (text, FALSE);
}

static void
hg_address_list_connectable_init (GSocketConnectableIface *iface)
{
  iface->enumerate = hg_address_list_enumerate;
  /* A proxy-aware GSocketClient calls proxy_enumerate(). Returning the
   * plain list from it keeps any proxy resolver out of the connect. */
  iface->proxy_enumerate = hg_address_list_enumerate;
  iface->to_string = hg_address_list_to_string;
}

static void
hg_address_list_finalize (GObject *object)
{
  HgAddressList *self = HG_ADDRESS_LIST (object);

  g_clear_pointer (&self->addresses, g_ptr_array_unref);

  G_OBJECT_CLASS (hg_address_list_parent_class)->finalize (object);
}

static void
hg_address_list_class_init (HgAddressListClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hg_address_list_finalize;
}

static void
hg_address_list_init (HgAddressList *self)
{
  self->addresses = g_ptr_array_new_with_free_func (g_object_unref);
}

/* Creates a connectable yielding each of @addresses (GInetAddress) on
 * @port once, in the given order. With @via_proxy, each is a GProxyAddress
 * for an HTTP proxy at that address. A connect to a GProxyAddress with
 * proxying disabled is a plain TCP connect, but the socket keeps it as its
 * remote address, and libsoup 3.2 then writes absolute-form request lines
 * for the proxy. */
static HgAddressList *
hg_address_list_new (GPtrArray *addresses,
                     guint16    port,
                     gboolean   via_proxy)
{
  HgAddressList *self = g_object_new (HG_TYPE_ADDRESS_LIST, NULL);

  for (guint i = 0; i < addresses->len; i++)
    {
      GInetAddress *address = g_ptr_array_index (addresses, i);
      g_autofree char *text = NULL;
      g_autofree char *uri = NULL;

      if (!via_proxy)
        {
          g_ptr_array_add (self->addresses, g_inet_socket_address_new (address, port));
          continue;
        }

      /* libsoup reads only the URI; the destination is required by
       * GProxyAddress but each request names its own in its URI. */
      text = g_inet_address_to_string (address);
      uri = g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6
            ? g_strdup_printf ("http://[%s]:%u", text, port)
            : g_strdup_printf ("http://%s:%u", text, port);
      g_ptr_array_add (self->addresses,
                       g_object_new (G_TYPE_PROXY_ADDRESS,
                                     "address", address,
                                     "port", (guint) port,
                                     "protocol", "http",
                                     "destination-hostname", text,
                                     "destination-port", (guint) port,
                                     "uri", uri,
                                     NULL));
    }

  return self;
}

/* ------------------------------------------------------------------ */
/* The forwarder and its session cache                                 */

typedef struct
{
  char *key;
  GQueue idle;  /* SoupSession, most recently given back first */
} SessionPool;

struct _HgForwarder
{
  gsize max_body;
  guint timeout_secs;

  GHashTable *pools;  /* key → GList link in lru */
  GQueue lru;         /* SessionPool, most recently used first */
  guint n_idle;       /* sessions in all pools */
};

static void
session_pool_free (SessionPool *pool)
{
  /* The forwarder's count is kept by the callers that drop a pool. */
  g_free (pool->key);
  g_queue_clear_full (&pool->idle, g_object_unref);
  g_free (pool);
}

/**
 * hg_forwarder_new:
 * @max_body: the largest request body accepted, in bytes
 * @timeout_secs: in seconds, 0 for none: the connect and I/O timeout
 *   towards the origin, how long pooled origin connections stay idle, and
 *   how long the client may make no progress reading the response or
 *   sending the body
 *
 * Creates a forwarder with no sessions yet.
 *
 * Returns: (transfer full): the forwarder
 */
HgForwarder *
hg_forwarder_new (gsize max_body,
                  guint timeout_secs)
{
  HgForwarder *forwarder = g_new0 (HgForwarder, 1);

  /* The body is collected in a GByteArray, whose length is a guint. */
  forwarder->max_body = MIN (max_body, (gsize) G_MAXUINT);
  forwarder->timeout_secs = timeout_secs;
  forwarder->pools = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&forwarder->lru);

  return forwarder;
}

/**
 * hg_forwarder_free:
 * @forwarder: (transfer full) (nullable): a forwarder
 *
 * Frees @forwarder and drops its idle sessions, which closes their
 * connections. Requests still running keep their session until they end.
 */
void
hg_forwarder_free (HgForwarder *forwarder)
{
  if (forwarder == NULL)
    return;

  g_hash_table_destroy (forwarder->pools);
  g_queue_clear_full (&forwarder->lru, (GDestroyNotify) session_pool_free);
  g_free (forwarder);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Returns the pool key for requests to @host on @target_port through
 * @addresses on @port: the names, the sorted address texts and the
 * ports, so the same set in another order shares a pool. libsoup keeps
 * a connection per host name in a session, so the name is part of the
 * key, and a session has one connection. */
static char *
session_key (const char *host,
             guint16     target_port,
             GPtrArray  *addresses,
             guint16     port,
             gboolean    via_proxy)
{
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  GString *key = g_string_new (via_proxy ? "proxy " : "");

  g_string_append_printf (key, "%s %u ", host, target_port);

  for (guint i = 0; i < addresses->len; i++)
    g_ptr_array_add (texts, g_inet_address_to_string (g_ptr_array_index (addresses, i)));
  g_ptr_array_sort (texts, compare_strings);

  for (guint i = 0; i < texts->len; i++)
    g_string_append_printf (key, "%s,", (const char *) g_ptr_array_index (texts, i));
  g_string_append_printf (key, "%u", port);

  return g_string_free (key, FALSE);
}

static SoupSession *
create_session (HgForwarder *forwarder,
                GPtrArray   *addresses,
                guint16      port,
                gboolean     via_proxy)
{
  g_autoptr(HgAddressList) connectable = hg_address_list_new (addresses, port, via_proxy);
  SoupSession *session;

  /* "proxy-resolver" NULL, given explicitly, stops libsoup 3.2 from
   * taking g_proxy_resolver_get_default(), so http_proxy in the
   * environment is ignored. */
  session = g_object_new (SOUP_TYPE_SESSION,
                          "remote-connectable", connectable,
                          "proxy-resolver", NULL,
                          "user-agent", NULL,
                          "accept-language-auto", FALSE,
                          "timeout", forwarder->timeout_secs,
                          "idle-timeout", forwarder->timeout_secs,
                          NULL);

  /* The decoder would decode relayed bodies and add Accept-Encoding, and
   * the auth manager would retry 401s with credentials of its own. A
   * plain SoupSession in libsoup 3.2.3 has no cookie jar, HSTS enforcer,
   * content sniffer or User-Agent to remove. */
  soup_session_remove_feature_by_type (session, SOUP_TYPE_CONTENT_DECODER);
  soup_session_remove_feature_by_type (session, SOUP_TYPE_AUTH_MANAGER);
  soup_session_set_proxy_resolver (session, NULL);

  return session;
}

/* Returns the pool for @key, moved to the front of the LRU list, or a
 * new one, dropping the least recently used pool when there are too
 * many. */
static SessionPool *
find_pool (HgForwarder *forwarder,
           const char  *key)
{
  GList *link = g_hash_table_lookup (forwarder->pools, key);
  SessionPool *pool;

  if (link != NULL)
    {
      g_queue_unlink (&forwarder->lru, link);
      g_queue_push_head_link (&forwarder->lru, link);
      return link->data;
    }

  pool = g_new0 (SessionPool, 1);
  pool->key = g_strdup (key);
  g_queue_init (&pool->idle);
  g_queue_push_head (&forwarder->lru, pool);
  g_hash_table_insert (forwarder->pools, pool->key, forwarder->lru.head);

  if (forwarder->lru.length > SESSION_POOLS_MAX)
    {
      SessionPool *oldest = g_queue_pop_tail (&forwarder->lru);

      g_hash_table_remove (forwarder->pools, oldest->key);
      forwarder->n_idle -= oldest->idle.length;
      session_pool_free (oldest);
    }

  return pool;
}

/* Returns (transfer full) the most recently given back idle session for
 * @key, or a new session for @addresses on @port. */
static SoupSession *
take_session (HgForwarder *forwarder,
              const char  *key,
              GPtrArray   *addresses,
              guint16      port,
              gboolean     via_proxy)
{
  SessionPool *pool = find_pool (forwarder, key);
  SoupSession *session = g_queue_pop_head (&pool->idle);

  if (session != NULL)
    {
      forwarder->n_idle--;
      return session;
    }

  return create_session (forwarder, addresses, port, via_proxy);
}

/* Drops the oldest idle session of the least recently used pool that
 * has one. */
static void
drop_oldest_idle (HgForwarder *forwarder)
{
  for (GList *link = forwarder->lru.tail; link != NULL; link = link->prev)
    {
      SessionPool *pool = link->data;

      if (pool->idle.length > 0)
        {
          g_object_unref (g_queue_pop_tail (&pool->idle));
          forwarder->n_idle--;
          return;
        }
    }
}

/* Keeps @session (transfer full), whose forward ended with the response
 * read whole, for the next forward to @key. */
static void
give_back_session (HgForwarder *forwarder,
                   const char  *key,
                   SoupSession *session)
{
  GList *link = g_hash_table_lookup (forwarder->pools, key);

  if (link == NULL)
    {
      g_object_unref (session);
      return;
    }

  if (forwarder->n_idle >= HG_FORWARDER_IDLE_MAX)
    drop_oldest_idle (forwarder);

  g_queue_push_head (&((SessionPool *) link->data)->idle, session);
  forwarder->n_idle++;
}

/* ------------------------------------------------------------------ */
/* One forwarded request                                               */

typedef enum
{
  BODY_LENGTH,        /* reading content_length bytes */
  BODY_CHUNK_SIZE,    /* reading a chunk-size line */
  BODY_CHUNK_DATA,    /* reading chunk data */
  BODY_CHUNK_END,     /* reading the CRLF after chunk data */
  BODY_TRAILER,       /* reading trailer lines up to an empty one */
  BODY_DONE,
} BodyState;

typedef enum
{
  FRAMING_NONE,       /* no body: HEAD, 204, 304 */
  FRAMING_LENGTH,     /* Content-Length from the origin */
  FRAMING_CHUNKED,    /* re-chunked for an HTTP/1.1 client */
  FRAMING_CLOSE,      /* delimited by closing, for an HTTP/1.0 client */
} Framing;

typedef struct
{
  gsize max_body;
  guint timeout_secs;
  guint http_minor;
  gboolean client_keep_alive;
  gboolean is_head;
  char *host;                   /* the target host, from the URI */
  guint16 port;                 /* the target port, from the URI */
  char *peer;                   /* what is connected to, for messages */
  gboolean peer_is_upstream;    /* @peer is the upstream proxy */

  GInputStream *client_in;
  GOutputStream *client_out;

  /* Request body */
  BodyState body_state;
  gint64 content_length;
  guint64 chunk_remaining;
  gsize trailer_bytes;
  GByteArray *input;            /* read from the client, not parsed yet */
  GByteArray *body;

  /* Upstream request */
  SoupSession *session;
  char *session_key;
  SoupMessage *message;
  gboolean connected;
  gboolean switched_protocols;  /* the origin's response was 101 */
  /* Cancels every operation of this forward. The caller's cancellable,
   * a stalled client and any error set it off. */
  GCancellable *abort_cancellable;
  GCancellable *cancellable;    /* the caller's, or NULL */
  gulong cancelled_id;

  /* Fires when the client makes no progress for timeout_secs. */
  GSource *client_watchdog;
  gboolean client_reading;      /* whether the watched operation is a read */
  gboolean client_timed_out;
  gint64 client_deadline;       /* monotonic, or 0 when nothing is watched */
  int client_fd;                /* the client's socket, or -1 */
  gssize client_unsent;         /* its kernel queue when the write began */

  /* Response */
  GInputStream *response;
  Framing framing;
  GString *response_head;
  guint8 *buffer;
  char chunk_header[CHUNK_HEADER_MAX];
  GOutputVector vectors[4];
  GError *body_error;           /* from the read before the head went out */
  gboolean body_ended;

  gboolean response_started;
  gboolean keep_alive;
  guint64 bytes_up;
  guint64 bytes_down;
} ForwardData;

static void
forward_data_free (ForwardData *data)
{
  if (data->cancelled_id != 0)
    g_cancellable_disconnect (data->cancellable, data->cancelled_id);
  g_clear_object (&data->cancellable);
  if (data->client_watchdog != NULL)
    g_source_destroy (data->client_watchdog);
  g_clear_pointer (&data->client_watchdog, g_source_unref);

  g_free (data->host);
  g_free (data->peer);
  g_clear_object (&data->client_in);
  g_clear_object (&data->client_out);
  g_clear_pointer (&data->input, g_byte_array_unref);
  g_clear_pointer (&data->body, g_byte_array_unref);
  g_clear_object (&data->response);
  /* An aborted message may live on in the session for a while. */
  if (data->message != NULL)
    g_signal_handlers_disconnect_by_data (data->message, data);
  g_clear_object (&data->message);
  g_clear_object (&data->session);
  g_free (data->session_key);
  g_clear_object (&data->abort_cancellable);
  if (data->response_head != NULL)
    g_string_free (data->response_head, TRUE);
  g_clear_error (&data->body_error);
  g_free (data->buffer);
  g_free (data);
}

static void
return_http_error (GTask      *task,
                   guint       status,
                   const char *reason)
{
  g_autofree char *clean = hg_http_sanitize_reason (reason);

  g_task_return_new_error (task, HG_HTTP_ERROR, (int) status, "%s", clean);
  g_object_unref (task);
}

/* Ends @task with @error, after aborting the upstream message so that a
 * half-read response does not keep its connection busy. An operation
 * cancelled by the client watchdog ends with a timeout instead: 408 while
 * the request body was read, G_IO_ERROR_TIMED_OUT once the response
 * started. */
static void
return_error (GTask  *task,
              GError *error)
{
  ForwardData *data = g_task_get_task_data (task);

  g_cancellable_cancel (data->abort_cancellable);

  if (data->client_timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *reason = NULL;

      if (data->client_reading)
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "The client sent no request body data for %u second (--io-timeout)",
                                               "The client sent no request body data for %u seconds (--io-timeout)",
                                               data->timeout_secs),
                                  data->timeout_secs);
      else
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "The client read no response data for %u second (--io-timeout)",
                                               "The client read no response data for %u seconds (--io-timeout)",
                                               data->timeout_secs),
                                  data->timeout_secs);

      g_clear_error (&error);
      if (data->response_started)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, reason);
      else
        error = g_error_new_literal (HG_HTTP_ERROR, SOUP_STATUS_REQUEST_TIMEOUT, reason);
    }

  g_task_return_error (task, error);
  g_object_unref (task);
}

static gboolean
watchdog_dispatch (GSource     *source,
                   GSourceFunc  callback,
                   gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs watchdog_funcs = { NULL, NULL, watchdog_dispatch, NULL, NULL, NULL };

static void watch_client (ForwardData *data,
                          gboolean     reading);

static gboolean
client_took_bytes (ForwardData *data)
{
  gssize unsent;

  if (data->client_fd < 0)
    return FALSE;

  unsent = hg_socket_get_unsent (data->client_fd);
  return unsent >= 0 && unsent < data->client_unsent;
}

static gboolean
client_watchdog_cb (gpointer user_data)
{
  ForwardData *data = user_data;

  /* The source fires at the time it was armed for. A later watch may
   * have moved the deadline since, or no operation may be watched. */
  if (data->client_deadline == 0)
    {
      g_source_set_ready_time (data->client_watchdog, -1);
      return G_SOURCE_CONTINUE;
    }

  if (g_get_monotonic_time () < data->client_deadline)
    {
      g_source_set_ready_time (data->client_watchdog, data->client_deadline);
      return G_SOURCE_CONTINUE;
    }

  /* A write waits for room in the kernel's queue, which frees up only
   * in large steps. A client that reads slowly has taken bytes from that
   * queue meanwhile, and gets another period. */
  if (!data->client_reading && client_took_bytes (data))
    {
      watch_client (data, FALSE);
      g_source_set_ready_time (data->client_watchdog, data->client_deadline);
      return G_SOURCE_CONTINUE;
    }

  data->client_timed_out = TRUE;
  data->client_deadline = 0;
  g_source_set_ready_time (data->client_watchdog, -1);
  g_cancellable_cancel (data->abort_cancellable);
  return G_SOURCE_CONTINUE;
}

/* Arms the watchdog for one read from or write to the client. A client
 * that stops sending the body or stops reading the response would
 * otherwise hold the forward, and the origin connection, forever.
 * GLib wakes the main loop with a write to its eventfd at each change
 * of a source's ready time. So only the first watch arms the source;
 * later ones move the deadline, which the source reads when it fires. */
static void
watch_client (ForwardData *data,
              gboolean     reading)
{
  if (data->timeout_secs == 0)
    return;

  if (data->client_watchdog == NULL)
    {
      data->client_watchdog = g_source_new (&watchdog_funcs, sizeof (GSource));
      g_source_set_name (data->client_watchdog, "[hostgate] forward client watchdog");
      g_source_set_callback (data->client_watchdog, client_watchdog_cb, data, NULL);
      g_source_attach (data->client_watchdog, g_main_context_get_thread_default ());
    }

  data->client_reading = reading;
  if (!reading && data->client_fd >= 0)
    data->client_unsent = hg_socket_get_unsent (data->client_fd);
  data->client_deadline = g_get_monotonic_time () + (gint64) data->timeout_secs * G_USEC_PER_SEC;
  if (g_source_get_ready_time (data->client_watchdog) == -1)
    g_source_set_ready_time (data->client_watchdog, data->client_deadline);
}

static void
unwatch_client (ForwardData *data)
{
  data->client_deadline = 0;
}

/* Names the limit as it was most likely given, "16.0 MiB" for "16M",
 * and in bytes. */
static char *
body_too_large_reason (gsize max_body)
{
  g_autofree char *size = NULL;

  if (max_body < 1024)
    return g_strdup_printf (_("The request body exceeds %zu bytes, the limit set by --max-body"), max_body);

  size = g_format_size_full (max_body, G_FORMAT_SIZE_IEC_UNITS);
  return g_strdup_printf (_("The request body exceeds %s (%zu bytes), the limit set by --max-body"),
                          size, max_body);
}

static void
propagate_cancel_cb (GCancellable *cancellable,
                     GCancellable *abort_cancellable)
{
  g_cancellable_cancel (abort_cancellable);
}

static char *
format_authority (const char *host,
                  guint16     port)
{
  if (strchr (host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", host, port);

  return g_strdup_printf ("%s:%u", host, port);
}

static char *
format_host_header (const char *host,
                    guint16     port)
{
  const char *open = strchr (host, ':') != NULL ? "[" : "";
  const char *close = open[0] != '\0' ? "]" : "";

  if (port == 80)
    return g_strdup_printf ("%s%s%s", open, host, close);

  return g_strdup_printf ("%s%s%s:%u", open, host, close, port);
}

static gboolean
has_unsafe_bytes (const char *text)
{
  for (const char *p = text; p != NULL && *p != '\0'; p++)
    {
      if ((guchar) *p <= 0x20 || (guchar) *p == 0x7f)
        return TRUE;
    }

  return FALSE;
}

static gboolean
expects_continue (const HgRequestHead *head)
{
  const char *expect = soup_message_headers_get_list (head->headers, "Expect");

  return head->http_minor >= 1
         && expect != NULL
         && soup_header_contains (expect, "100-continue");
}

/* Creates the upstream message for @head: same method, path and query,
 * the client's end-to-end headers, and Host from the URI. */
static SoupMessage *
build_message (const HgRequestHead  *head,
               const char           *host,
               guint16               port,
               GError              **error)
{
  g_autoptr(SoupMessage) message = NULL;
  g_autofree char *host_header = NULL;
  SoupMessageHeaders *headers;
  SoupMessageHeadersIter iter;
  const char *name, *value;

  /* The URI's path and query reach the request line unchanged, so they
   * must not contain bytes that would split it. */
  if (has_unsafe_bytes (g_uri_get_path (head->uri))
      || has_unsafe_bytes (g_uri_get_query (head->uri)))
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("The request target contains a space or control byte"));
      return NULL;
    }

  message = soup_message_new_from_uri (head->method, head->uri);
  soup_message_add_flags (message, SOUP_MESSAGE_NO_REDIRECT);

  headers = soup_message_get_request_headers (message);
  soup_message_headers_iter_init (&iter, head->headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    soup_message_headers_append (headers, name, value);

  hg_request_head_strip_hop_by_hop (headers);

  /* libsoup frames the body it sends. The forwarder handles Expect
   * itself, because it reads the whole body before the request goes out. */
  soup_message_headers_remove (headers, "Content-Length");
  soup_message_headers_remove (headers, "Transfer-Encoding");
  soup_message_headers_remove (headers, "Expect");

  /* A proxy replaces the client's Host with the URI's authority. */
  host_header = format_host_header (host, port);
  soup_message_headers_replace (headers, "Host", host_header);

  return g_steal_pointer (&message);
}

static void send_request (GTask *task);
static void read_body (GTask *task);

/* Moves the Content-Length body from data->input to data->body.
 * Returns TRUE when the whole body is there. */
static gboolean
take_length_body (ForwardData *data)
{
  guint64 missing = (guint64) data->content_length - data->body->len;
  gsize take = (gsize) MIN (missing, (guint64) data->input->len);

  g_byte_array_append (data->body, data->input->data, (guint) take);
  g_byte_array_remove_range (data->input, 0, (guint) take);

  return data->body->len == (guint64) data->content_length;
}

/* Finds the CRLF-ended line at the start of data->input, at most @limit
 * bytes long with its CRLF. Returns its length without the CRLF, or -1
 * when it is incomplete or on @error. */
static gssize
find_line (ForwardData  *data,
           gsize         limit,
           GError      **error)
{
  const guint8 *lf = NULL;
  gssize length;

  /* An empty GByteArray may have no buffer, and memchr() needs one. */
  if (data->input->len > 0)
    lf = memchr (data->input->data, '\n', MIN (data->input->len, limit));

  if (lf == NULL)
    {
      if (data->input->len >= limit)
        g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                     _("A chunk-size line or trailer of the request body is longer than %zu bytes"),
                     limit);
      return -1;
    }

  length = lf - data->input->data;
  if (length == 0 || data->input->data[length - 1] != '\r')
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("A line of the chunked request body does not end in CRLF"));
      return -1;
    }

  return length - 1;
}

static gboolean
parse_chunk_size (const char  *line,
                  gsize        length,
                  guint64     *size)
{
  guint64 value = 0;
  gsize digits = 0;

  /* At most 15 hexadecimal digits, so the value cannot overflow. */
  while (digits < length && g_ascii_isxdigit (line[digits]))
    {
      if (digits == 15)
        return FALSE;
      value = value * 16 + (guint64) g_ascii_xdigit_value (line[digits]);
      digits++;
    }

  if (digits == 0)
    return FALSE;

  /* Only whitespace or a chunk extension may follow the size. */
  if (digits < length && line[digits] != ';' && line[digits] != ' ' && line[digits] != '\t')
    return FALSE;

  *size = value;
  return TRUE;
}

/* Moves chunk data from data->input to data->body. Returns TRUE when it
 * moved any. */
static gboolean
take_chunk_data (ForwardData *data)
{
  gsize take = (gsize) MIN (data->chunk_remaining, (guint64) data->input->len);

  if (take == 0)
    return FALSE;

  g_byte_array_append (data->body, data->input->data, (guint) take);
  g_byte_array_remove_range (data->input, 0, (guint) take);
  data->chunk_remaining -= take;
  if (data->chunk_remaining == 0)
    data->body_state = BODY_CHUNK_END;

  return TRUE;
}

/* Handles one chunk-size line: the next state, or @error. */
static gboolean
handle_chunk_size (ForwardData  *data,
                   const char   *line,
                   gsize         length,
                   GError      **error)
{
  if (!parse_chunk_size (line, length, &data->chunk_remaining))
    {
      g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                   _("A chunk size of the request body is not a valid hexadecimal number"));
      return FALSE;
    }

  if (data->chunk_remaining > data->max_body - data->body->len)
    {
      g_autofree char *reason = body_too_large_reason (data->max_body);

      g_set_error_literal (error, HG_HTTP_ERROR, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, reason);
      return FALSE;
    }

  data->body_state = data->chunk_remaining == 0 ? BODY_TRAILER : BODY_CHUNK_DATA;
  return TRUE;
}

/* Parses one step of a chunked body from data->input. Returns TRUE when
 * it made progress, FALSE when it needs more input or failed (@error). */
static gboolean
parse_chunked_step (ForwardData  *data,
                    GError      **error)
{
  gsize limit = CHUNK_LINE_MAX;
  gssize length;

  if (data->body_state == BODY_CHUNK_DATA)
    return take_chunk_data (data);

  /* Trailer lines share one budget; trailer_bytes never exceeds it. */
  if (data->body_state == BODY_TRAILER)
    limit = TRAILER_MAX - data->trailer_bytes;

  length = find_line (data, limit, error);
  if (length < 0)
    return FALSE;

  switch (data->body_state)
    {
    case BODY_CHUNK_SIZE:
      if (!handle_chunk_size (data, (const char *) data->input->data, (gsize) length, error))
        return FALSE;
      break;

    case BODY_CHUNK_END:
      if (length != 0)
        {
          g_set_error (error, HG_HTTP_ERROR, SOUP_STATUS_BAD_REQUEST,
                       _("Chunk data of the request body is longer than its chunk size"));
          return FALSE;
        }
      data->body_state = BODY_CHUNK_SIZE;
      break;

    case BODY_TRAILER:
      data->trailer_bytes += (gsize) length + 2;
      if (length == 0)
        data->body_state = BODY_DONE;
      break;

    case BODY_LENGTH:
    case BODY_CHUNK_DATA:
    case BODY_DONE:
    default:
      g_assert_not_reached ();
    }

  g_byte_array_remove_range (data->input, 0, (guint) length + 2);
  return TRUE;
}

/* Parses what data->input holds. Returns TRUE when the body is complete,
 * FALSE when more input is needed or on @error. */
static gboolean
parse_body (ForwardData  *data,
            GError      **error)
{
  if (data->body_state == BODY_LENGTH)
    {
      if (take_length_body (data))
        data->body_state = BODY_DONE;
      return data->body_state == BODY_DONE;
    }

  while (data->body_state != BODY_DONE)
    {
      if (!parse_chunked_step (data, error))
        return FALSE;
    }

  return TRUE;
}

static void
read_body_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  ForwardData *data = g_task_get_task_data (task);
  GError *error = NULL;
  gssize count;

  unwatch_client (data);
  count = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (count < 0)
    {
      return_error (task, error);
      return;
    }

  if (count == 0)
    {
      g_autofree char *reason = NULL;

      if (data->body_state == BODY_LENGTH)
        reason = g_strdup_printf (_("the client closed the connection after %u of %lld request body bytes"),
                                  data->body->len, (long long) data->content_length);
      else
        reason = g_strdup_printf (_("the client closed the connection after %u bytes of the "
                                    "chunked request body"),
                                  data->body->len);

      return_http_error (task, SOUP_STATUS_BAD_REQUEST, reason);
      return;
    }

  g_byte_array_append (data->input, data->buffer, (guint) count);
  read_body (task);
}

/* Parses the request body read so far and reads more until it is
 * complete, then sends the request. */
static void
read_body (GTask *task)
{
  ForwardData *data = g_task_get_task_data (task);
  GError *error = NULL;
  gsize size = FORWARD_BUFFER_SIZE;

  if (parse_body (data, &error))
    {
      send_request (task);
      return;
    }

  if (error != NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  /* Reading no further than the end of a Content-Length body leaves a
   * pipelined next request in the socket. */
  if (data->body_state == BODY_LENGTH)
    size = (gsize) MIN ((guint64) size, (guint64) data->content_length - data->body->len);

  watch_client (data, TRUE);
  g_input_stream_read_async (data->client_in, data->buffer, size, G_PRIORITY_DEFAULT,
                             data->abort_cancellable, read_body_cb, task);
}

static void
write_continue_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  unwatch_client (g_task_get_task_data (task));
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      return_error (task, error);
      return;
    }

  read_body (task);
}

/* ------------------------------------------------------------------ */
/* Sending upstream and relaying the response                          */

static void relay_body (GTask *task);

/* libsoup 3.2 appends `Connection: Keep-Alive` to every HTTP/1.x request
 * just before "starting". HTTP/1.1 keeps connections open without it,
 * and the origin should see only the client's end-to-end headers. */
static void
starting_cb (SoupMessage *message,
             gpointer     user_data)
{
  soup_message_headers_remove (soup_message_get_request_headers (message), "Connection");
}

/* A new connection reports CONNECTED; a reused one writes the headers
 * without any network event. */
static void
network_event_cb (SoupMessage        *message,
                  GSocketClientEvent  event,
                  GIOStream          *connection,
                  ForwardData        *data)
{
  if (event == G_SOCKET_CLIENT_CONNECTED)
    data->connected = TRUE;
}

static void
wrote_headers_cb (SoupMessage *message,
                  ForwardData *data)
{
  data->connected = TRUE;
}

/* A 101 to a request that asked for no upgrade leaves libsoup waiting
 * for a final response that never comes, until --io-timeout. */
static void
got_informational_cb (SoupMessage *message,
                      ForwardData *data)
{
  if (soup_message_get_status (message) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;

  data->switched_protocols = TRUE;
  g_cancellable_cancel (data->abort_cancellable);
}

/* Turns a libsoup send error into the status to respond with. */
static GError *
translate_send_error (ForwardData *data,
                      GError      *error)
{
  g_autofree char *reason = NULL;
  g_autofree char *clean = NULL;
  guint status = SOUP_STATUS_BAD_GATEWAY;

  if (data->switched_protocols)
    {
      g_error_free (error);
      reason = g_strdup_printf (_("%s switched protocols (101), which a plain request through the proxy cannot do"),
                                data->peer);
      clean = hg_http_sanitize_reason (reason);
      return g_error_new_literal (HG_HTTP_ERROR, SOUP_STATUS_BAD_GATEWAY, clean);
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return error;

  /* Whole sentences for the upstream proxy, so that translations can
   * decline "proxy" as their grammar needs. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) && !data->connected)
    {
      status = SOUP_STATUS_GATEWAY_TIMEOUT;
      if (data->peer_is_upstream)
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "could not connect to the upstream proxy %s within %u second",
                                               "could not connect to the upstream proxy %s within %u seconds",
                                               data->timeout_secs),
                                  data->peer, data->timeout_secs);
      else
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "could not connect to %s within %u second",
                                               "could not connect to %s within %u seconds",
                                               data->timeout_secs),
                                  data->peer, data->timeout_secs);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      status = SOUP_STATUS_GATEWAY_TIMEOUT;
      if (data->peer_is_upstream)
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "the upstream proxy %s did not respond within %u second",
                                               "the upstream proxy %s did not respond within %u seconds",
                                               data->timeout_secs),
                                  data->peer, data->timeout_secs);
      else
        reason = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                               "%s did not respond within %u second",
                                               "%s did not respond within %u seconds",
                                               data->timeout_secs),
                                  data->peer, data->timeout_secs);
    }
  else if (!data->connected)
    {
      if (data->peer_is_upstream)
        reason = g_strdup_printf (_("could not connect to the upstream proxy %s: %s"),
                                  data->peer, hg_strip_connect_prefix (error->message));
      else
        reason = g_strdup_printf (_("could not connect to %s: %s"),
                                  data->peer, hg_strip_connect_prefix (error->message));
    }
  else if (data->peer_is_upstream)
    {
      reason = g_strdup_printf (_("the request to the upstream proxy %s failed: %s"),
                                data->peer, error->message);
    }
  else
    {
      reason = g_strdup_printf (_("the request to %s failed: %s"),
                                data->peer, error->message);
    }

  g_error_free (error);
  clean = hg_http_sanitize_reason (reason);
  return g_error_new_literal (HG_HTTP_ERROR, (int) status, clean);
}

static gboolean
is_framing_header (const char *name)
{
  return g_ascii_strcasecmp (name, "Content-Length") == 0
         || g_ascii_strcasecmp (name, "Transfer-Encoding") == 0;
}

/* Returns whether the response's Content-Length headers, if it has any
 * and no Transfer-Encoding, agree on one decimal number. With several
 * values libsoup takes the last, so the origin and the proxy could read
 * the body's end at different places. */
static gboolean
response_length_is_valid (SoupMessageHeaders *headers)
{
  const char *lengths = soup_message_headers_get_list (headers, "Content-Length");
  g_auto(GStrv) values = NULL;

  if (lengths == NULL || soup_message_headers_get_list (headers, "Transfer-Encoding") != NULL)
    return TRUE;

  values = g_strsplit (lengths, ",", -1);
  for (guint i = 0; values[i] != NULL; i++)
    {
      g_strstrip (values[i]);
      if (values[i][0] == '\0' || strspn (values[i], "0123456789") != strlen (values[i])
          || strcmp (values[i], values[0]) != 0)
        return FALSE;
    }

  return TRUE;
}

/* Chooses how the response body is delimited towards the client. */
static Framing
choose_framing (ForwardData *data,
                guint        status)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (data->message);

  if (data->is_head || SOUP_STATUS_IS_INFORMATIONAL (status)
      || status == SOUP_STATUS_NO_CONTENT || status == SOUP_STATUS_NOT_MODIFIED)
    return FRAMING_NONE;

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    return FRAMING_LENGTH;

  if (data->http_minor >= 1)
    return FRAMING_CHUNKED;

  return FRAMING_CLOSE;
}

/* Formats the status line and the end-to-end response headers, framed
 * for the client. */
static GString *
format_response_head (ForwardData *data)
{
  SoupMessageHeaders *origin_headers = soup_message_get_response_headers (data->message);
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  guint status = soup_message_get_status (data->message);
  const char *phrase = soup_message_get_reason_phrase (data->message);
  g_autofree char *reason = hg_http_sanitize_reason (phrase != NULL ? phrase : "");
  GString *head = g_string_sized_new (1024);
  SoupMessageHeadersIter iter;
  const char *name, *value;

  g_string_append_printf (head, "HTTP/1.1 %u %s\r\n", status, reason);

  soup_message_headers_iter_init (&iter, origin_headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      /* A body-less response keeps the origin's Content-Length, which
       * describes the entity, not this message. */
      if (is_framing_header (name)
          && !(data->framing == FRAMING_NONE && g_ascii_strcasecmp (name, "Content-Length") == 0))
        continue;
      soup_message_headers_append (headers, name, value);
    }
  hg_request_head_strip_hop_by_hop (headers);

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (strpbrk (name, "\r\n") != NULL || strpbrk (value, "\r\n") != NULL)
        continue;
      g_string_append_printf (head, "%s: %s\r\n", name, value);
    }

  if (data->framing == FRAMING_LENGTH)
    g_string_append_printf (head, "Content-Length: %" G_GINT64_FORMAT "\r\n",
                            soup_message_headers_get_content_length (origin_headers));
  else if (data->framing == FRAMING_CHUNKED)
    g_string_append (head, "Transfer-Encoding: chunked\r\n");

  if (!data->keep_alive)
    g_string_append (head, "Connection: close\r\n");
  else if (data->http_minor == 0)
    g_string_append (head, "Connection: keep-alive\r\n");

  g_string_append (head, "\r\n");
  return head;
}

static void
close_response_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;

  /* The body was read to its end; a failure to close changes nothing for
   * the client. */
  g_input_stream_close_finish (G_INPUT_STREAM (source), result, NULL);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
finish_response (GTask *task)
{
  ForwardData *data = g_task_get_task_data (task);

  g_input_stream_close_async (data->response, G_PRIORITY_DEFAULT, NULL,
                              close_response_cb, task);
}

/* Replaces libsoup's "Socket I/O timed out" for a response body that
 * stalled with a reason that names the origin and the option. Takes
 * @error and returns the error to report. */
static GError *
name_body_timeout (ForwardData *data,
                   GError      *error)
{
  GError *named;

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return error;

  named = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       g_dngettext (GETTEXT_PACKAGE,
                                    "%s sent no response data for %u second (--io-timeout)",
                                    "%s sent no response data for %u seconds (--io-timeout)",
                                    data->timeout_secs),
                       data->peer, data->timeout_secs);
  g_error_free (error);
  return named;
}

/* Appends the vectors that carry @count bytes of the buffer to the
 * client, or the end of the body when @count is 0, after the first
 * @n_vectors. Returns the number of vectors in use. */
static guint
frame_body (ForwardData *data,
            gsize        count,
            guint        n_vectors)
{
  if (count == 0)
    {
      if (data->framing == FRAMING_CHUNKED)
        data->vectors[n_vectors++] = (GOutputVector) { "0\r\n\r\n", 5 };
      return n_vectors;
    }

  data->bytes_down += (guint64) count;

  if (data->framing == FRAMING_CHUNKED)
    {
      int length = g_snprintf (data->chunk_header, sizeof data->chunk_header,
                               "%" G_GSIZE_MODIFIER "x\r\n", count);

      data->vectors[n_vectors++] = (GOutputVector) { data->chunk_header, (gsize) length };
    }
  data->vectors[n_vectors++] = (GOutputVector) { data->buffer, count };
  if (data->framing == FRAMING_CHUNKED)
    data->vectors[n_vectors++] = (GOutputVector) { "\r\n", 2 };

  return n_vectors;
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  GTask *task = user_data;
  ForwardData *data = g_task_get_task_data (task);
  GError *error = NULL;

  unwatch_client (data);
  if (data->response_head != NULL)
    g_string_free (g_steal_pointer (&data->response_head), TRUE);

  if (!g_output_stream_writev_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      return_error (task, error);
      return;
    }

  if (data->body_error != NULL)
    return_error (task, name_body_timeout (data, g_steal_pointer (&data->body_error)));
  else if (data->body_ended)
    finish_response (task);
  else
    relay_body (task);
}

/* Writes the first @n_vectors vectors to the client. */
static void
write_vectors (GTask *task,
               guint  n_vectors)
{
  ForwardData *data = g_task_get_task_data (task);

  watch_client (data, FALSE);
  g_output_stream_writev_all_async (data->client_out, data->vectors, n_vectors,
                                    G_PRIORITY_DEFAULT, data->abort_cancellable,
                                    write_cb, task);
}

static void
read_response_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  ForwardData *data = g_task_get_task_data (task);
  GError *error = NULL;
  gssize count;

  count = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (count < 0)
    {
      return_error (task, name_body_timeout (data, error));
      return;
    }

  if (count == 0)
    data->body_ended = TRUE;

  if (count == 0 && data->framing != FRAMING_CHUNKED)
    {
      finish_response (task);
      return;
    }

  write_vectors (task, frame_body (data, (gsize) count, 0));
}

/* Reads the next piece of the response body. Its write to the client
 * must finish before the next read starts, which is the back-pressure. */
static void
relay_body (GTask *task)
{
  ForwardData *data = g_task_get_task_data (task);

  g_input_stream_read_async (data->response, data->buffer, FORWARD_BUFFER_SIZE,
                             G_PRIORITY_DEFAULT, data->abort_cancellable,
                             read_response_cb, task);
}

/* Frames the part of the body the origin sent with the head behind it,
 * so that a small response reaches the client in one write and wakes it
 * once. Returns the number of vectors in use, the head's included. */
static guint
take_ready_body (ForwardData *data)
{
  GPollableInputStream *pollable = NULL;
  GError *error = NULL;
  gssize count;

  if (G_IS_POLLABLE_INPUT_STREAM (data->response)
      && g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (data->response)))
    pollable = G_POLLABLE_INPUT_STREAM (data->response);

  /* libsoup keeps a connection for reuse only once the body stream has
   * reported its end, even the empty one of a HEAD, 204 or 304. Bytes
   * such a stream should not have are not relayed. And it keeps it only
   * when the headers tell the body's end: without Content-Length, which
   * a 204 or 304 need not send, it reads the response as delimited by
   * closing. These responses have no body, so the length is 0. The head
   * sent to the client is already formatted. */
  if (data->framing == FRAMING_NONE)
    {
      SoupMessageHeaders *headers = soup_message_get_response_headers (data->message);

      if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_EOF)
        soup_message_headers_set_content_length (headers, 0);
      if (pollable != NULL)
        g_pollable_input_stream_read_nonblocking (pollable, data->buffer, FORWARD_BUFFER_SIZE,
                                                  data->abort_cancellable, NULL);
      data->body_ended = TRUE;
      return 1;
    }

  if (pollable == NULL)
    return 1;

  count = g_pollable_input_stream_read_nonblocking (pollable, data->buffer, FORWARD_BUFFER_SIZE,
                                                    data->abort_cancellable, &error);
  if (count < 0)
    {
      /* Anything but "nothing yet" ends the forward once the head is out,
       * as it would have on the next read. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        g_error_free (error);
      else
        data->body_error = error;
      return 1;
    }

  if (count == 0)
    data->body_ended = TRUE;

  return frame_body (data, (gsize) count, 1);
}

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  ForwardData *data = g_task_get_task_data (task);
  GError *error = NULL;

  data->response = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (data->response == NULL)
    {
      g_task_return_error (task, translate_send_error (data, error));
      g_object_unref (task);
      return;
    }

  /* Only a proxy sends 407, so this one is the upstream's. Passed on, it
   * would read as hostgate asking the client for its token. */
  if (data->peer_is_upstream
      && soup_message_get_status (data->message) == SOUP_STATUS_PROXY_AUTHENTICATION_REQUIRED)
    {
      g_cancellable_cancel (data->abort_cancellable);
      return_http_error (task, SOUP_STATUS_BAD_GATEWAY, hg_upstream_login_reason ());
      return;
    }

  if (!response_length_is_valid (soup_message_get_response_headers (data->message)))
    {
      g_autofree char *reason = g_strdup_printf (_("%s sent a response with an invalid or conflicting Content-Length"),
                                                 data->peer);

      g_cancellable_cancel (data->abort_cancellable);
      return_http_error (task, SOUP_STATUS_BAD_GATEWAY, reason);
      return;
    }

  data->framing = choose_framing (data, soup_message_get_status (data->message));
  data->keep_alive = data->client_keep_alive && data->framing != FRAMING_CLOSE;

  data->response_head = format_response_head (data);
  data->response_started = TRUE;
  data->vectors[0] = (GOutputVector) { data->response_head->str, data->response_head->len };
  write_vectors (task, take_ready_body (data));
}

static void
send_request (GTask *task)
{
  ForwardData *data = g_task_get_task_data (task);

  if (data->body != NULL)
    {
      g_autoptr(GBytes) body = g_byte_array_free_to_bytes (g_steal_pointer (&data->body));

      data->bytes_up = g_bytes_get_size (body);
      soup_message_set_request_body_from_bytes (data->message, NULL, body);
    }

  g_signal_connect (data->message, "network-event", G_CALLBACK (network_event_cb), data);
  g_signal_connect (data->message, "wrote-headers", G_CALLBACK (wrote_headers_cb), data);
  g_signal_connect (data->message, "got-informational", G_CALLBACK (got_informational_cb), data);
  g_signal_connect (data->message, "starting", G_CALLBACK (starting_cb), NULL);
  soup_session_send_async (data->session, data->message, G_PRIORITY_DEFAULT,
                           data->abort_cancellable, send_cb, task);
}

static ForwardData *
forward_data_new (HgForwarder   *forwarder,
                  HgRequestHead *head,
                  GIOStream     *client,
                  GBytes        *pending,
                  GCancellable  *cancellable)
{
  ForwardData *data = g_new0 (ForwardData, 1);
  int port = g_uri_get_port (head->uri);

  data->max_body = forwarder->max_body;
  data->timeout_secs = forwarder->timeout_secs;
  data->http_minor = head->http_minor;
  data->client_keep_alive = head->keep_alive;
  data->is_head = g_ascii_strcasecmp (head->method, "HEAD") == 0;
  data->host = g_strdup (g_uri_get_host (head->uri));
  data->port = port > 0 ? (guint16) port : 80;
  data->client_in = g_object_ref (g_io_stream_get_input_stream (client));
  data->client_out = g_object_ref (g_io_stream_get_output_stream (client));
  data->client_fd = G_IS_SOCKET_CONNECTION (client)
                    ? g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (client)))
                    : -1;
  data->input = pending != NULL ? g_bytes_unref_to_array (g_bytes_ref (pending)) : g_byte_array_new ();
  data->buffer = g_malloc (FORWARD_BUFFER_SIZE);
  data->abort_cancellable = g_cancellable_new ();

  if (cancellable != NULL)
    {
      data->cancellable = g_object_ref (cancellable);
      data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (propagate_cancel_cb),
                                                  data->abort_cancellable, NULL);
    }

  return data;
}

/* Sets up the request body reader for @head. */
static void
prepare_body (ForwardData         *data,
              const HgRequestHead *head)
{
  if (head->chunked)
    {
      data->body_state = BODY_CHUNK_SIZE;
      data->body = g_byte_array_new ();
    }
  else if (head->content_length >= 0)
    {
      data->body_state = BODY_LENGTH;
      data->content_length = head->content_length;
      data->body = g_byte_array_sized_new ((guint) MIN (head->content_length, FORWARD_BUFFER_SIZE));
    }
  else
    {
      data->body_state = BODY_DONE;
    }
}

/* Starts a forward to @addresses on @port, directly or through the HTTP
 * proxy there (@via_proxy). */
static void
forward_start (HgForwarder         *forwarder,
               HgRequestHead       *head,
               GIOStream           *client,
               GBytes              *pending,
               GPtrArray           *addresses,
               guint16              port,
               gboolean             via_proxy,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  ForwardData *data = forward_data_new (forwarder, head, client, pending, cancellable);
  GError *error = NULL;

  g_task_set_source_tag (task, hg_forwarder_forward_async);
  g_task_set_task_data (task, data, (GDestroyNotify) forward_data_free);

  if (via_proxy && addresses->len > 0)
    {
      g_autofree char *text = g_inet_address_to_string (g_ptr_array_index (addresses, 0));
      g_autofree char *proxy = format_authority (text, port);

      data->peer = g_steal_pointer (&proxy);
      data->peer_is_upstream = TRUE;
    }
  else
    {
      data->peer = format_authority (data->host, data->port);
    }

  if (addresses->len == 0)
    {
      g_autofree char *reason = g_strdup_printf (_("No vetted address to connect to for %s"), data->peer);

      return_http_error (g_steal_pointer (&task), SOUP_STATUS_BAD_GATEWAY, reason);
      return;
    }

  if (head->content_length > 0 && (guint64) head->content_length > forwarder->max_body)
    {
      g_autofree char *reason = body_too_large_reason (forwarder->max_body);

      return_http_error (g_steal_pointer (&task), SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, reason);
      return;
    }

  data->message = build_message (head, data->host, data->port, &error);
  if (data->message == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* Only the upstream proxy gets this proxy's name in Via, so that a
   * request it sends back here is recognised as a loop. */
  if (data->peer_is_upstream)
    {
      g_autofree char *via = hg_request_head_own_via (head);

      soup_message_headers_append (soup_message_get_request_headers (data->message), "Via", via);
    }

  data->session_key = session_key (data->host, data->port, addresses, port, via_proxy);
  data->session = take_session (forwarder, data->session_key, addresses, port, via_proxy);
  prepare_body (data, head);

  /* The client waits for 100 Continue before it sends the body, so send
   * it unless the body is already here or there is none. */
  if (expects_continue (head) && data->body_state != BODY_DONE
      && (data->body_state != BODY_LENGTH || data->input->len < (guint64) data->content_length))
    {
      static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

      watch_client (data, FALSE);
      g_output_stream_write_all_async (data->client_out, continue_line, sizeof continue_line - 1,
                                       G_PRIORITY_DEFAULT, data->abort_cancellable, write_continue_cb,
                                       g_steal_pointer (&task));
      return;
    }

  read_body (g_steal_pointer (&task));
}

/**
 * hg_forwarder_forward_async:
 * @forwarder: a forwarder
 * @head: the validated request head (not taken)
 * @client: the client connection; the request body is read from it and
 *   the response head and body are written to it
 * @pending: (nullable): bytes already read past the head
 * @addresses: (element-type GInetAddress): the vetted addresses, tried in order
 * @cancellable: (nullable): cancels the whole exchange
 * @callback: called when the response was relayed or the request failed
 * @user_data: data for @callback
 *
 * Reads the request body, sends the request to the origin over a
 * connection to one of @addresses (never to any other address, and
 * without a name lookup) and streams the response back to @client.
 *
 * The request keeps its method, path and query bytes. Hop-by-hop
 * headers, every header named by Connection, and Expect are removed, and
 * Host is set from the URI. When the client sent `Expect: 100-continue`,
 * the forwarder sends `100 Continue` before reading the body. The
 * response's end-to-end headers and body pass unchanged: bodies are not
 * decoded, redirects are not followed, and no credentials are sent in
 * reply to an auth challenge.
 *
 * @forwarder, @client and @cancellable must stay alive until @callback
 * runs; @head and @addresses need not.
 */
void
hg_forwarder_forward_async (HgForwarder         *forwarder,
                            HgRequestHead       *head,
                            GIOStream           *client,
                            GBytes              *pending,
                            GPtrArray           *addresses,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  int port;

  g_return_if_fail (forwarder != NULL);
  g_return_if_fail (head != NULL && head->uri != NULL);
  g_return_if_fail (G_IS_IO_STREAM (client));
  g_return_if_fail (addresses != NULL);

  port = g_uri_get_port (head->uri);
  forward_start (forwarder, head, client, pending, addresses, port > 0 ? (guint16) port : 80,
                 FALSE, cancellable, callback, user_data);
}

/**
 * hg_forwarder_forward_upstream_async:
 * @forwarder: a forwarder
 * @head: the validated request head (not taken)
 * @client: the client connection
 * @pending: (nullable): bytes already read past the head
 * @upstream_addresses: (element-type GInetAddress): the addresses of the
 *   upstream HTTP proxy, tried in order
 * @upstream_port: the upstream proxy's port
 * @cancellable: (nullable): cancels the whole exchange
 * @callback: called when the response was relayed or the request failed
 * @user_data: data for @callback
 *
 * Forwards the request like hg_forwarder_forward_async(), but through the
 * upstream HTTP proxy at @upstream_addresses: the request line carries
 * the absolute URI, and the upstream looks the target's name up. Nothing
 * is resolved here, neither the target nor the upstream, whose addresses
 * the caller resolved. Finish with hg_forwarder_forward_finish(). A 407
 * from the upstream reaches the client like any other response.
 */
void
hg_forwarder_forward_upstream_async (HgForwarder         *forwarder,
                                     HgRequestHead       *head,
                                     GIOStream           *client,
                                     GBytes              *pending,
                                     GPtrArray           *upstream_addresses,
                                     guint16              upstream_port,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_return_if_fail (forwarder != NULL);
  g_return_if_fail (head != NULL && head->uri != NULL);
  g_return_if_fail (G_IS_IO_STREAM (client));
  g_return_if_fail (upstream_addresses != NULL);
  g_return_if_fail (upstream_port != 0);

  forward_start (forwarder, head, client, pending, upstream_addresses, upstream_port,
                 TRUE, cancellable, callback, user_data);
}

/**
 * hg_forwarder_forward_finish:
 * @forwarder: a forwarder
 * @result: the result passed to the callback
 * @keep_alive: (out) (optional): whether the client connection may carry
 *   another request: the client wants it and the response was framed
 *   by length or chunks
 * @pending_out: (out) (optional) (transfer full): bytes read from the
 *   client past the request body, possibly empty
 * @bytes_up: (out) (optional): request body bytes sent to the origin
 * @bytes_down: (out) (optional): response body bytes relayed to the
 *   client, without chunk framing
 * @response_started: (out) (optional): whether any of the response
 *   head was written to the client
 * @error: return location for an error
 *
 * Finishes a forward. The outputs are set on failure too. Before the
 * response started, the error is in %HG_HTTP_ERROR with the status to
 * respond with as its code (400, 408, 413, 502, 504), or
 * %G_IO_ERROR_CANCELLED when @cancellable was cancelled, or another
 * %G_IO_ERROR when reading the client failed. After it started, the
 * caller must close the connection; a client that stopped reading then
 * ends the forward with %G_IO_ERROR_TIMED_OUT.
 *
 * Returns: whether the response was relayed completely
 */
gboolean
hg_forwarder_forward_finish (HgForwarder   *forwarder,
                             GAsyncResult  *result,
                             gboolean      *keep_alive,
                             GBytes       **pending_out,
                             guint64       *bytes_up,
                             guint64       *bytes_down,
                             gboolean      *response_started,
                             guint         *status,
                             GError       **error)
{
  ForwardData *data;
  gboolean ok;

  g_return_val_if_fail (forwarder != NULL, FALSE);
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  data = g_task_get_task_data (G_TASK (result));
  ok = g_task_propagate_boolean (G_TASK (result), error);

  if (keep_alive != NULL)
    *keep_alive = ok && data->keep_alive;
  if (pending_out != NULL)
    *pending_out = g_bytes_new (data->input->data, data->input->len);
  if (bytes_up != NULL)
    *bytes_up = data->bytes_up;
  if (bytes_down != NULL)
    *bytes_down = data->bytes_down;
  if (response_started != NULL)
    *response_started = data->response_started;
  if (status != NULL)
    *status = data->response_started && data->message != NULL ? soup_message_get_status (data->message) : 0;

  /* After a failure the message may still hold the connection. */
  if (ok && data->session != NULL)
    give_back_session (forwarder, data->session_key, g_steal_pointer (&data->session));

  return ok;
}
