/* parallel.c — a fixed set of worker threads taking job indices from a shared counter. */
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 16

typedef struct pool {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int n, next, done, running, failed;
  int (*job)(void *user, int i);
  void *user;
} pool;

/* Takes the next job index, or -1 when none is left (or a job failed). */
static int take(pool *p) {
  pthread_mutex_lock(&p->lock);
  int i = p->failed || p->next >= p->n ? -1 : p->next++;
  pthread_mutex_unlock(&p->lock);
  return i;
}

static void finish(pool *p, int rc) {
  pthread_mutex_lock(&p->lock);
  p->done++;
  if (rc != 0) p->failed = 1;
  pthread_cond_signal(&p->changed);
  pthread_mutex_unlock(&p->lock);
}

static void *worker(void *arg) {
  pool *p = arg;
  for (int i; (i = take(p)) >= 0;) finish(p, p->job(p->user, i));
  pthread_mutex_lock(&p->lock);
  p->running--;
  pthread_cond_signal(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int mlg_parallel_for(int n, int max_threads, int (*job)(void *user, int i), void *user,
                     mlg_progress_fn progress, void *progress_user) {
  if (n <= 0) return 0;
  if (max_threads <= 0) {
    const char *env = getenv("MLG_BUILD_THREADS");
    long cpus = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    max_threads = cpus < 1 ? 1 : cpus < MAX_THREADS ? (int)cpus : MAX_THREADS;
  }
  if (max_threads > n) max_threads = n;
  pool p = {.n = n, .job = job, .user = user};
  pthread_t threads[MAX_THREADS];
  int started = 0;
  if (max_threads > 1 && pthread_mutex_init(&p.lock, NULL) == 0) {
    if (pthread_cond_init(&p.changed, NULL) == 0) {
      p.running = max_threads;
      for (; started < max_threads && started < MAX_THREADS; started++)
        if (pthread_create(&threads[started], NULL, worker, &p) != 0) break;
      pthread_mutex_lock(&p.lock);
      p.running -= max_threads - started; /* threads that never started */
      int reported = 0;
      while (p.running > 0) {
        if (progress && p.done != reported) {
          reported = p.done;
          pthread_mutex_unlock(&p.lock);
          progress(progress_user, reported, n);
          pthread_mutex_lock(&p.lock);
          continue;
        }
        pthread_cond_wait(&p.changed, &p.lock);
      }
      pthread_mutex_unlock(&p.lock);
      for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
      pthread_cond_destroy(&p.changed);
    }
    pthread_mutex_destroy(&p.lock);
  }
  /* Whatever no thread took (none could be started): here, one after another. */
  for (int i = p.next; i < n && !p.failed; i++) {
    p.next = i + 1;
    p.failed = job(user, i) != 0;
    p.done++;
    if (progress) progress(progress_user, p.done, n);
  }
  if (progress && started > 0 && p.done == n) progress(progress_user, n, n);
  return p.failed || p.done < n ? -1 : 0;
}
