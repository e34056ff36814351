#include "metagmm/train/signals.hpp"

#include <csignal>
#include <initializer_list>

namespace metagmm::train {
namespace {

volatile std::sig_atomic_t received = 0;

extern "C" void record_signal(int signal) {
  if (received == 0) received = signal;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a signal must not make a file write or MPI call fail
  for (const int signal : {SIGTERM, SIGINT, SIGUSR1}) sigaction(signal, &action, nullptr);
}

int stop_signal() { return received; }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

}  // namespace metagmm::train
