// tests/hf_fixtures.hpp — a GPT-NeoX-shaped tokenizer.json built in the test (no network, no downloaded file):
// the 256 byte symbols of GPT-2's byte-level alphabet, a few merges, <|endoftext|> and <|padding|>.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ssm::test {

using json = nlohmann::json;

/// GPT-2's byte → character map, written out again here from its definition (not taken from the header).
inline std::string byte_symbol(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    cp = 256;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++cp;
  }
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

inline json added(int id, const std::string& content, bool special, bool lstrip = false, bool rstrip = false,
           bool single_word = false) {
  return {{"id", id},           {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip},   {"normalized", !special}, {"special", special}};
}

/// The merges of the test vocab, in rank order; merge r makes token 256 + r.
inline const std::vector<std::pair<std::string, std::string>> base_merges = {
    {"Ġ", "t"},   // 256 Ġt
    {"h", "e"},   // 257 he
    {"Ġt", "he"}, // 258 Ġthe
    {"l", "l"},   // 259 ll
    {"ll", "o"},  // 260 llo
    {"Ġ", "w"},   // 261 Ġw
    {"o", "r"},   // 262 or
    {"Ġw", "or"}, // 263 Ġwor
};

/// A GPT-NeoX-shaped tokenizer.json: 256 byte symbols (id = byte), `merges`, <|endoftext|> = 300, <|padding|> = 301.
inline json make_json(const std::vector<std::pair<std::string, std::string>>& merges = base_merges,
               bool array_merges = false) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_symbol(b)] = b;
  json m = json::array();
  for (std::size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    vocab[a + b] = 256 + static_cast<int>(r);
    if (array_merges)
      m.push_back(json::array({a, b}));
    else
      m.push_back(a + " " + b);
  }
  json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = json::array({added(300, "<|endoftext|>", true), added(301, "<|padding|>", true)});
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                        {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                         {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"vocab", vocab},
                {"merges", m}};
  return j;
}

}  // namespace ssm::test
