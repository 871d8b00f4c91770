// examples/common/json.hpp — a minimal JSON value for results files: objects keep insertion order,
// strings are escaped, non-finite numbers become null.
#pragma once

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ssm/core/error.hpp"

namespace ssm::examples {

class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() : v_(nullptr) {}
  Json(std::nullptr_t) : v_(nullptr) {}
  Json(bool b) : v_(b) {}
  Json(int x) : v_(static_cast<double>(x)) {}
  Json(long x) : v_(static_cast<double>(x)) {}
  Json(long long x) : v_(static_cast<double>(x)) {}
  Json(unsigned long x) : v_(static_cast<double>(x)) {}
  Json(double x) : v_(x) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json object() { return Json(Object{}); }
  static Json array() { return Json(Array{}); }

  /// Object member (inserted when absent).
  Json& operator[](const std::string& key) {
    if (std::holds_alternative<std::nullptr_t>(v_)) v_ = Object{};
    auto& o = std::get<Object>(v_);
    for (auto& kv : o)
      if (kv.first == key) return kv.second;
    o.emplace_back(key, Json());
    return o.back().second;
  }
  void push_back(Json j) {
    if (std::holds_alternative<std::nullptr_t>(v_)) v_ = Array{};
    std::get<Array>(v_).push_back(std::move(j));
  }

  std::string dump(int indent = 2) const {
    std::ostringstream os;
    write(os, indent, 0);
    return os.str();
  }

  /// Writes atomically (temporary file + rename), so a crash never leaves half a results file.
  void save(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      SSM_CHECK(out.good(), "cannot write results file '", tmp, "'");
      out << dump() << "\n";
      SSM_CHECK(out.good(), "writing results file '", tmp, "' failed");
    }
    SSM_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path, "'");
  }

 private:
  static void escape(std::ostream& os, const std::string& s) {
    os << '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': os << "\\\""; break;
        case '\\': os << "\\\\"; break;
        case '\n': os << "\\n"; break;
        case '\r': os << "\\r"; break;
        case '\t': os << "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            os << buf;
          } else {
            os << c;
          }
      }
    }
    os << '"';
  }

  void write(std::ostream& os, int indent, int depth) const {
    const std::string pad(static_cast<std::size_t>(indent * (depth + 1)), ' ');
    const std::string close(static_cast<std::size_t>(indent * depth), ' ');
    const char* nl = indent ? "\n" : "";
    if (std::holds_alternative<std::nullptr_t>(v_)) {
      os << "null";
    } else if (auto* b = std::get_if<bool>(&v_)) {
      os << (*b ? "true" : "false");
    } else if (auto* d = std::get_if<double>(&v_)) {
      if (!std::isfinite(*d)) {
        os << "null";
      } else if (*d == std::floor(*d) && std::abs(*d) < 1e15) {
        os << static_cast<long long>(*d);
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", *d);
        os << buf;
      }
    } else if (auto* s = std::get_if<std::string>(&v_)) {
      escape(os, *s);
    } else if (auto* a = std::get_if<Array>(&v_)) {
      os << '[' << nl;
      for (std::size_t i = 0; i < a->size(); ++i) {
        os << pad;
        (*a)[i].write(os, indent, depth + 1);
        os << (i + 1 < a->size() ? "," : "") << nl;
      }
      os << close << ']';
    } else if (auto* o = std::get_if<Object>(&v_)) {
      os << '{' << nl;
      for (std::size_t i = 0; i < o->size(); ++i) {
        os << pad;
        escape(os, (*o)[i].first);
        os << (indent ? ": " : ":");
        (*o)[i].second.write(os, indent, depth + 1);
        os << (i + 1 < o->size() ? "," : "") << nl;
      }
      os << close << '}';
    }
  }

  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v_;
};

}  // namespace ssm::examples
