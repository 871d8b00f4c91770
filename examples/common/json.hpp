// examples/common/json.hpp — the results files of the example programs: nlohmann::json (Debian nlohmann-json3-dev)
// with keys in insertion order, and a save that names the file when writing fails.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ssm/core/error.hpp"

namespace ssm::examples {

using Json = nlohmann::ordered_json;

inline void save_json(const Json& j, const std::string& path) {
  std::ofstream out(path);
  SSM_CHECK(out.good(), "cannot write results file '", path, "'");
  out << j.dump(2) << '\n';
  out.close();
  SSM_CHECK(!out.fail(), "writing results file '", path, "' failed");
}

}  // namespace ssm::examples
