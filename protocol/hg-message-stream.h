/* hg-message-stream.h: reading and writing wire messages on a connection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "hg-message.h"

G_BEGIN_DECLS

#define HG_TYPE_MESSAGE_STREAM (hg_message_stream_get_type ())

G_DECLARE_FINAL_TYPE (HgMessageStream, hg_message_stream, HG, MESSAGE_STREAM, GObject)

HgMessageStream *hg_message_stream_new             (GIOStream            *base_stream);
GIOStream       *hg_message_stream_get_base_stream (HgMessageStream      *self);

void             hg_message_stream_read_async      (HgMessageStream      *self,
                                                    GCancellable         *cancellable,
                                                    GAsyncReadyCallback   callback,
                                                    gpointer              user_data);
HgMessage       *hg_message_stream_read_finish     (HgMessageStream      *self,
                                                    GAsyncResult         *result,
                                                    GError              **error);

void             hg_message_stream_write_async     (HgMessageStream      *self,
                                                    const HgMessage      *message,
                                                    GCancellable         *cancellable,
                                                    GAsyncReadyCallback   callback,
                                                    gpointer              user_data);
gboolean         hg_message_stream_write_finish    (HgMessageStream      *self,
                                                    GAsyncResult         *result,
                                                    GError              **error);
void             hg_message_stream_send            (HgMessageStream      *self,
                                                    const HgMessage      *message);

void             hg_message_stream_close_async     (HgMessageStream      *self,
                                                    GCancellable         *cancellable,
                                                    GAsyncReadyCallback   callback,
                                                    gpointer              user_data);
gboolean         hg_message_stream_close_finish    (HgMessageStream      *self,
                                                    GAsyncResult         *result,
                                                    GError              **error);
void             hg_message_stream_close           (HgMessageStream      *self);
gboolean         hg_message_stream_is_closed       (HgMessageStream      *self);

gboolean         hg_unix_peer_check                (GSocketConnection    *connection,
                                                    GError              **error);

G_END_DECLS
