/* hg-bench-filter.c: the cost of a large allow or deny list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Builds a list of --entries entries, half exact names and half wildcards,
 * times loading it into an HgFilter, then times lookups in batches and
 * reports the median per-lookup time of the batches (and the fastest and
 * slowest batch). Prints one JSON object.
 *
 * Each time is measured twice: on the monotonic clock, and as the thread's
 * CPU time, which excludes the time other processes hold the CPU. On a
 * shared machine the two differ, and the CPU time is the steadier one.
 */
#include "config.h"

#include "hg-filter.h"
#include "hg-host.h"

#include <stdio.h>
#include <time.h>

#define BATCH         10000
#define N_NAMES       4096

typedef enum {
  PROBE_EXACT,        /* a name on the list */
  PROBE_WILDCARD,     /* a name three labels under a wildcard entry */
  PROBE_MISS,         /* a name matching no entry, five labels deep */
  PROBE_DENY_HOST,    /* deny decision: name and resolved address */
  PROBE_PARSE_MATCH,  /* the whole step for a CONNECT authority */
  N_PROBES
} Probe;

static const char *probe_names[N_PROBES] = {
  "lookup_exact_hit", "lookup_wildcard_hit", "lookup_miss",
  "deny_decision", "parse_and_lookup",
};

static char *
exact_entry (guint i)
{
  return g_strdup_printf ("host%u.exact-%u.example", i, i % 997);
}

static char *
wildcard_suffix (guint i)
{
  return g_strdup_printf ("zone%u.wild-%u.test", i, i % 991);
}

/* Returns the CPU time this thread has used, in microseconds. */
static gint64
thread_cpu_us (void)
{
  struct timespec now;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &now);
  return (gint64) now.tv_sec * G_USEC_PER_SEC + now.tv_nsec / 1000;
}

static int
compare_double (const void *a,
                const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Returns a name for batch position @i of @probe; @entries is the list size. */
static char *
probe_name (Probe probe,
            guint i,
            guint entries)
{
  guint half = MAX (entries / 2, 1);
  guint pick = g_random_int_range (0, (gint32) half);
  g_autofree char *suffix = NULL;

  switch (probe)
    {
    case PROBE_EXACT:
      return exact_entry (pick);
    case PROBE_WILDCARD:
    case PROBE_DENY_HOST:
      suffix = wildcard_suffix (pick);
      return g_strdup_printf ("a%u.b.c.%s", i, suffix);
    case PROBE_MISS:
      return g_strdup_printf ("a%u.b.c.unlisted-%u.example", i, pick);
    case PROBE_PARSE_MATCH:
      suffix = wildcard_suffix (pick);
      return g_strdup_printf ("API%u.Sub.%s:443", i, suffix);
    case N_PROBES:
    default:
      break;
    }
  g_assert_not_reached ();
}

/* Runs @batches batches of BATCH lookups; returns the median wall time
 * per lookup in nanoseconds, and stores the range and the median CPU time. */
static double
time_probe (HgFilter     *filter,
            Probe         probe,
            guint         entries,
            guint         batches,
            double       *min_ns,
            double       *max_ns,
            double       *cpu_ns,
            guint64      *hits)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string ("203.0.113.7");
  g_autofree double *per_lookup = g_new (double, batches);
  g_autofree double *cpu_per_lookup = g_new (double, batches);
  double median;

  for (guint i = 0; i < N_NAMES; i++)
    g_ptr_array_add (names, probe_name (probe, i, entries));

  for (guint b = 0; b < batches; b++)
    {
      gint64 start = g_get_monotonic_time ();
      gint64 cpu_start = thread_cpu_us ();

      for (guint i = 0; i < BATCH; i++)
        {
          const char *name = names->pdata[(b * BATCH + i) % N_NAMES];
          gboolean matched;

          if (probe == PROBE_DENY_HOST)
            matched = hg_filter_match_host (filter, name, address, 443);
          else if (probe == PROBE_PARSE_MATCH)
            {
              g_autoptr(HgHost) host = hg_host_parse (name, HG_HOST_PORT_REQUIRED, NULL);

              matched = host != NULL && hg_filter_match_host (filter, host->name, host->address, host->port);
            }
          else
            matched = hg_filter_match_name (filter, name, 443);
          *hits += matched;
        }

      per_lookup[b] = (g_get_monotonic_time () - start) * 1000.0 / BATCH;
      cpu_per_lookup[b] = (thread_cpu_us () - cpu_start) * 1000.0 / BATCH;
    }

  qsort (cpu_per_lookup, batches, sizeof (double), compare_double);
  *cpu_ns = cpu_per_lookup[batches / 2];
  qsort (per_lookup, batches, sizeof (double), compare_double);
  *min_ns = per_lookup[0];
  *max_ns = per_lookup[batches - 1];
  median = per_lookup[batches / 2];
  return median;
}

static guint64
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "\nVmRSS:");
  return line != NULL ? g_ascii_strtoull (line + 7, NULL, 10) : 0;
}

int
main (int   argc,
      char *argv[])
{
  int entries = 1000000, batches = 101;
  GOptionEntry options[] = {
    { "entries", 0, 0, G_OPTION_ARG_INT, &entries, "List entries, half exact and half wildcard (default: 1000000)", "N" },
    { "batches", 0, 0, G_OPTION_ARG_INT, &batches, "Batches of 10000 lookups per measure (default: 101)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(HgFilter) filter = NULL;
  guint64 rss_before, rss_after;
  gint64 start, cpu_start, load_us, load_cpu_us;

  g_option_context_set_summary (context, "Time loading a large list into a filter and looking names up in it.");
  g_option_context_add_main_entries (context, options, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (entries < 2 || batches < 1)
    {
      g_printerr ("--entries must be at least 2 and --batches at least 1\n");
      return 2;
    }

  g_random_set_seed (42);
  for (int i = 0; i < entries / 2; i++)
    {
      g_autofree char *suffix = wildcard_suffix (i);

      g_ptr_array_add (lines, exact_entry (i));
      g_ptr_array_add (lines, g_strconcat ("*.", suffix, NULL));
    }

  /* Loaded as a deny list, because the deny list is consulted for every
   * request. */
  rss_before = rss_kib ();
  start = g_get_monotonic_time ();
  cpu_start = thread_cpu_us ();
  filter = hg_filter_new ();
  for (guint i = 0; i < lines->len; i++)
    {
      if (!hg_filter_add (filter, lines->pdata[i], HG_PATTERN_FLAG_DENY, &error))
        {
          g_printerr ("Invalid entry “%s”: %s\n", (char *) lines->pdata[i], error->message);
          return 1;
        }
    }
  load_us = g_get_monotonic_time () - start;
  load_cpu_us = thread_cpu_us () - cpu_start;
  rss_after = rss_kib ();

  g_print ("{\"entries\": %u, \"load_seconds\": %.6f, \"load_cpu_seconds\": %.6f"
           ", \"filter_rss_kib\": %" G_GUINT64_FORMAT ", \"batch_size\": %d, \"batches\": %d",
           hg_filter_get_size (filter), load_us / 1e6, load_cpu_us / 1e6,
           rss_after - rss_before, BATCH, batches);

  for (Probe probe = 0; probe < N_PROBES; probe++)
    {
      double min_ns, max_ns, cpu_ns, median_ns;
      guint64 hits = 0;

      median_ns = time_probe (filter, probe, (guint) entries, (guint) batches,
                              &min_ns, &max_ns, &cpu_ns, &hits);
      g_print (", \"%s\": {\"median_ns\": %.1f, \"min_ns\": %.1f, \"max_ns\": %.1f"
               ", \"cpu_median_ns\": %.1f, \"hit_fraction\": %.3f}",
               probe_names[probe], median_ns, min_ns, max_ns, cpu_ns,
               hits / ((double) batches * BATCH));
    }
  g_print ("}\n");
  return 0;
}
