/* Ctrl-C and SIGTERM during training: the handler only records the signal;
 * the training loop sees it after the current step, saves and exits. A
 * second signal while that happens gets the default action (ends the
 * program at once), so a stuck save can still be interrupted. A signal that
 * was ignored when bn started (nohup, a background job of a script) stays
 * ignored, as the shell meant. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include "cli.h"

static volatile sig_atomic_t received; /* the one piece of state a handler may touch */

static void on_signal(int signo)
{
  received = signo;
  signal(signo, SIG_DFL);
}

void interrupt_install(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  received = 0;
  const int signals[] = {SIGINT, SIGTERM};
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
    struct sigaction old;
    if (sigaction(signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
      sigaction(signals[i], &sa, NULL);
  }
}

int interrupt_received(void)
{
  return (int)received;
}
