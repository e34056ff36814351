#pragma once
// SIGTERM, SIGINT and SIGUSR1 ask training to stop: the handler only records the signal; the
// loop sends the request through the next reduction so that all ranks stop after the same
// step, and rank 0 writes a checkpoint before the job exits with status 3.
namespace metagmm::train {

void install_stop_handlers();
// The first stop signal received, or 0.
int stop_signal();
const char* signal_name(int signal);

}  // namespace metagmm::train
