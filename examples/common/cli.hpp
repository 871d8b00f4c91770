// examples/common/cli.hpp — the example programs' command lines on CLI11 (Debian libcli11-dev): typed options with
// defaults and help, --help, errors that name the option and the bad value, positional arguments (a command and
// texts), and --config FILE.json, whose keys are option names (command-line options override them).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace ssm::examples {

/// CLI11's config reader for JSON objects: {"epochs": 3, "model": "s4d", "bidirectional": true, "lengths": [1, 2]}.
class JsonConfig final : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool, std::string) const override {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const CLI::Option* opt : app->get_options({})) {
      if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
      const std::string name = opt->get_lnames()[0];
      if (opt->count() > 0) j[name] = opt->as<std::string>();
      else if (default_also && !opt->get_default_str().empty()) j[name] = opt->get_default_str();
    }
    return j.dump(2);
  }
  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    nlohmann::json j;
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      throw CLI::ConversionError(std::string("--config: not valid JSON: ") + e.what());
    }
    if (!j.is_object()) throw CLI::ConversionError("--config: expected a JSON object of option names and values");
    std::vector<CLI::ConfigItem> out;
    for (auto& [key, value] : j.items()) {
      CLI::ConfigItem item;
      item.name = key;
      const auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
      if (value.is_array())
        for (auto& v : value) item.inputs.push_back(text(v));
      else
        item.inputs.push_back(text(value));
      out.push_back(std::move(item));
    }
    return out;
  }
};

/// "a,b,,c" → {"a", "b", "c"}: the items of a comma-separated option, empty ones dropped.
inline std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t next = std::min(s.find(sep, at), s.size());
    if (next > at) out.push_back(s.substr(at, next - at));
    at = next + 1;
  }
  return out;
}

class Cli {
 public:
  Cli(std::string program, std::string about) : app_(std::move(about), std::move(program)) {
    app_.config_formatter(std::make_shared<JsonConfig>());
    app_.set_config("--config", "", "read options from this JSON file (options on the command line override it)");
    app_.add_option("args", positional_, "command and arguments");
  }

  /// Registers --name with a default; the returned reference holds the parsed value after parse().
  template <class T>
  T& option(const std::string& name, T default_value, const std::string& help) {
    auto slot = std::make_shared<T>(std::move(default_value));
    owned_.push_back(slot);
    if constexpr (std::is_same_v<T, bool>)
      app_.add_flag("--" + name, *slot, help);
    else
      app_.add_option("--" + name, *slot, help)->capture_default_str();
    return *slot;
  }

  /// Registers --name stored straight into `target`, whose current value is the default.
  template <class T>
  void bind(const std::string& name, T& target, const std::string& help) {
    if constexpr (std::is_same_v<T, bool>)
      app_.add_flag("--" + name, target, help);
    else
      app_.add_option("--" + name, target, help)->capture_default_str();
  }

  /// Whether --name was given (on the command line or in --config), after parse().
  bool given(const std::string& name) const { return app_.count("--" + name) > 0; }

  /// Parses the command line (exits with the help text or the error); returns the positional arguments.
  /// "--name=" gives the option an empty value (e.g. --latency-lengths= to skip a measurement).
  std::vector<std::string> parse(int argc, char** argv) {
    std::vector<std::string> args;  // CLI11 takes them last first
    for (int i = argc - 1; i >= 1; --i) {
      const std::string a = argv[i];
      if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=') {
        args.emplace_back();
        args.push_back(a.substr(0, a.size() - 1));
      } else {
        args.push_back(a);
      }
    }
    try {
      app_.parse(args);
    } catch (const CLI::ParseError& e) {
      std::exit(app_.exit(e));
    }
    return positional_;
  }

 private:
  CLI::App app_;
  std::vector<std::string> positional_;
  std::vector<std::shared_ptr<void>> owned_;
};

}  // namespace ssm::examples
