#pragma once
// Kinds of failure (docs/design.md, "Errors"): bad user input is an InputError (a SettingError
// when it is a setting) that the command line turns into one line and exit status 2; a
// numeric breakdown is a NumericError (exit status 1, or a failed adaptation where evaluation
// counts them); a broken internal invariant aborts.
#include <stdexcept>
#include <string>

namespace metagmm {

// Bad options, files or data. The message names the file, object or option and what was
// expected; it is printed as it is.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A setting that is missing, of the wrong type or out of range. what() starts with the
// setting's name ("inner-steps: expected an integer >= 0", "meta-sgd block: needs --inner sgd"),
// so the layer that knows where the setting came from can name it as an option ("--" + what())
// or as a file's content.
class SettingError : public InputError {
 public:
  SettingError(const std::string& setting, const std::string& problem)
      : InputError(setting + ": " + problem), setting_(setting) {}
  SettingError(const std::string& setting, const std::string& value, const std::string& problem)
      : InputError(setting + " " + value + ": " + problem), setting_(setting) {}
  const std::string& setting() const { return setting_; }

 private:
  std::string setting_;
};

// An output could not be written (the disk is full, the file system failed): not the user's
// input, so exit status 1. The message names the file and the reason ("cannot write
// run/checkpoint-000000000100.h5: no space left on device (disk full)").
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The OutputError for a failed write of `path`, its reason from `saved_errno` (errno right after
// the failure; 0 when the library that failed did not say).
OutputError write_failure(const std::string& path, int saved_errno);

// The numbers broke down (a variance that is not positive, a singular covariance): not the
// user's input, and not a bug.
class NumericError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line,
                                   const std::string& message);

}  // namespace metagmm

#define METAGMM_CHECK(condition, message)                                               \
  do {                                                                                  \
    if (!(condition)) ::metagmm::invariant_failed(#condition, __FILE__, __LINE__, (message)); \
  } while (false)
