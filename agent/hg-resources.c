/* hg-resources.c: registering the agent's GResource once
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The resource is compiled with manual registration. GLib's static
 * resource registration must not run twice for the same resource: a
 * second call before any lookup links the resource to itself, and every
 * later lookup loops forever. Every user of the resource therefore goes
 * through this one guarded call.
 */
#include "config.h"

#include "hg-agent-resources.h"
#include "hg-resources.h"

/**
 * hg_agent_ensure_resources:
 *
 * Registers the agent's GResource (templates, introspection XML) unless
 * it is registered already. Safe to call from any thread, any number of
 * times.
 */
void
hg_agent_ensure_resources (void)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered))
    {
      hg_agent_register_resource ();
      g_once_init_leave (&registered, 1);
    }
}
