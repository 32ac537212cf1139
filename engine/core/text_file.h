// Whole text files in and out. Writes go to a temporary name in the same directory and are
// renamed into place, so a reader (or a killed run) never sees half a file.
#pragma once

#include <string>

#include "engine/core/status.h"

namespace qe {

// The file's bytes; an IoError naming the path when it cannot be opened or read.
Result<std::string> read_text_file(const std::string& path);

// Replaces `path` with `text` atomically; the temporary is removed on failure.
Status write_text_file_atomically(const std::string& path, const std::string& text);

}  // namespace qe
