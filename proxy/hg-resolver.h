/* hg-resolver.h: name lookups with a deadline and pinned names
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HG_RESOLVER_ERROR (hg_resolver_error_quark ())
GQuark hg_resolver_error_quark (void);

typedef enum {
  HG_RESOLVER_ERROR_NOT_FOUND,
  HG_RESOLVER_ERROR_TIMED_OUT,
  HG_RESOLVER_ERROR_FAILED,
} HgResolverError;

/**
 * HgResolver:
 *
 * Looks up names through the system resolver with a deadline (GResolver
 * has none in GLib 2.74), or answers from pins given with `--resolve`.
 * It never sees a name the filter has not allowed: the caller decides
 * first.
 */
typedef struct _HgResolver HgResolver;

HgResolver *hg_resolver_new            (guint          timeout_ms);
void        hg_resolver_free           (HgResolver    *resolver);
gboolean    hg_resolver_add_pin        (HgResolver    *resolver,
                                        const char    *spec,
                                        GError       **error);
void        hg_resolver_lookup_async   (HgResolver          *resolver,
                                        const char          *normalized_name,
                                        guint16              port,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
GPtrArray  *hg_resolver_lookup_finish  (HgResolver    *resolver,
                                        GAsyncResult  *result,
                                        GError       **error);
guint       hg_resolver_get_lookup_count (HgResolver  *resolver);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HgResolver, hg_resolver_free)

/* Connecting to vetted addresses only, never to a name. */
void               hg_connect_async  (GPtrArray           *addresses,
                                      guint16              port,
                                      guint                timeout_ms,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
GSocketConnection *hg_connect_finish (GAsyncResult        *result,
                                      GError             **error);

const char        *hg_strip_connect_prefix (const char *message);

G_END_DECLS
