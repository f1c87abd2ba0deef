/* parallel.h — runs independent jobs on worker threads: the backends build each distinct
 * kernel of a model this way (OpenCL programs, Vulkan pipelines), since drivers compile
 * different programs concurrently.
 * Thread safety: reentrant; `job` runs on several threads at once and must only touch state of
 * its own index (or synchronize). */
#ifndef MLG_RUNTIME_PARALLEL_H
#define MLG_RUNTIME_PARALLEL_H

/* Reports that `done` of `total` jobs have finished; called on the calling thread only. */
typedef void (*mlg_progress_fn)(void *user, int done, int total);

/* Runs job(user, i) for every i in [0, n) on up to `max_threads` threads (0: $MLG_BUILD_THREADS
 * when set, else one per online processor; at most 16), while the calling thread waits and calls progress (if not NULL) each
 * time jobs finish. A job returns 0 or nonzero for failure; after a failure no new job starts.
 * Falls back to running the jobs on the calling thread when no thread can be started. Returns
 * 0 when every job ran and returned 0, else -1 (the failing job has recorded why). */
int mlg_parallel_for(int n, int max_threads, int (*job)(void *user, int i), void *user,
                     mlg_progress_fn progress, void *progress_user);

#endif
