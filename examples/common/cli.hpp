// examples/common/cli.hpp — a small command-line parser for the example programs: typed options with
// defaults and help text, --help, and errors that name the option and the bad value.
#pragma once

#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace ssm::examples {

class Cli {
 public:
  Cli(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}

  /// Registers --name with a default; the returned reference holds the parsed value after parse().
  template <class T>
  T& option(const std::string& name, T default_value, const std::string& help) {
    auto* slot = new T(std::move(default_value));
    owned_.emplace_back(slot, [](void* p) { delete static_cast<T*>(p); });
    std::ostringstream def;
    def << *slot;
    options_.push_back({name, help, def.str(), std::is_same_v<T, bool>, [slot, name](const std::string& v) {
                          if constexpr (std::is_same_v<T, std::string>) {
                            *slot = v;
                          } else if constexpr (std::is_same_v<T, bool>) {
                            *slot = (v.empty() || v == "1" || v == "true" || v == "yes");
                          } else {
                            std::istringstream is(v);
                            T parsed{};
                            if (!(is >> parsed) || !is.eof()) {
                              std::cerr << "error: option --" << name << " expects a number, got '" << v << "'\n";
                              std::exit(2);
                            }
                            *slot = parsed;
                          }
                        }});
    return *slot;
  }

  /// Parses argv; prints help and exits 0 on --help, prints an error and exits 2 on a bad option.
  /// Arguments that are not options are returned in order.
  std::vector<std::string> parse(int argc, char** argv) {
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        print_help();
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0) {
        positional.push_back(a);
        continue;
      }
      std::string name = a.substr(2), value;
      const bool has_eq = name.find('=') != std::string::npos;
      if (has_eq) {
        value = name.substr(name.find('=') + 1);
        name = name.substr(0, name.find('='));
      }
      Opt* o = find(name);
      if (o == nullptr) {
        std::cerr << "error: unknown option --" << name << " (see --help)\n";
        std::exit(2);
      }
      if (!has_eq && !o->flag) {
        if (i + 1 >= argc) {
          std::cerr << "error: option --" << name << " needs a value\n";
          std::exit(2);
        }
        value = argv[++i];
      }
      o->set(value);
    }
    return positional;
  }

  void print_help() const {
    std::cout << program_ << " — " << about_ << "\n\nOptions:\n";
    for (auto& o : options_) {
      std::cout << "  --" << std::left << std::setw(22) << (o.name + (o.flag ? "" : " X")) << o.help;
      if (!o.flag) std::cout << " (default: " << o.def << ")";
      std::cout << "\n";
    }
    std::cout << "  --help                  this text\n";
  }

 private:
  struct Opt {
    std::string name, help, def;
    bool flag;
    std::function<void(const std::string&)> set;
  };
  Opt* find(const std::string& n) {
    for (auto& o : options_)
      if (o.name == n) return &o;
    return nullptr;
  }

  std::string program_, about_;
  std::vector<Opt> options_;
  std::vector<std::unique_ptr<void, void (*)(void*)>> owned_;
};

}  // namespace ssm::examples
