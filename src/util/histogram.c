#include "util/histogram.h"

static const double bounds_s[HISTOGRAM_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60,
};

void histogram_init(struct histogram *h)
{
	for (int i = 0; i <= HISTOGRAM_BUCKETS; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum_us, 0);
}

void histogram_observe_us(struct histogram *h, uint64_t us)
{
	int i = 0;
	while (i < HISTOGRAM_BUCKETS && (double)us > bounds_s[i] * 1e6)
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

int histogram_render(const struct histogram *h, const char *name, const char *help,
		     struct buf *out)
{
	int r = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cumulative = 0;
	for (int i = 0; r == 0 && i <= HISTOGRAM_BUCKETS; i++) {
		cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		if (i < HISTOGRAM_BUCKETS)
			r = buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds_s[i],
				       (unsigned long long)cumulative);
		else
			r = buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
				       (unsigned long long)cumulative);
	}
	if (r == 0)
		r = buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
			       (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6,
			       name, (unsigned long long)cumulative);
	return r;
}
