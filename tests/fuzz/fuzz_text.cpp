// tests/fuzz/fuzz_text.cpp — libFuzzer target for the text pipeline: UTF-8 validation, Latin-1 conversion,
// normalisation, the word tokenizer, vocabulary building and its serialisation round trip, both encoders, and the
// deserialisers fed arbitrary bytes. Invariants: tokens are non-empty and hold no ASCII whitespace, ids are inside
// the vocabulary, encodings are never empty nor longer than the maximum length.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ssm/data/csv.hpp"
#include "ssm/data/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ssm::data;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!is_valid_utf8(latin1_to_utf8(text))) __builtin_trap();
  (void)utf8_invalid_at(text);

  const std::string norm = normalize_text(text);
  const auto tokens = tokenize_words(norm);
  for (auto& t : tokens) {
    if (t.empty()) __builtin_trap();
    for (char c : t)
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r') __builtin_trap();
  }
  // Build a vocabulary from the tokens (and halves of the text), round-trip it, encode with it.
  const std::vector<std::string> texts{std::string(text), std::string(text.substr(0, size / 2))};
  const auto enc = TextEncoder::build_word(texts, 1 + static_cast<ssm::Index>(size % 17), 1, 64);
  const auto back = TextEncoder::deserialize(enc.serialize());
  if (back.vocab_size() != enc.vocab_size()) __builtin_trap();
  for (const TextEncoder* e : {&enc, &back}) {
    const auto ids = e->encode(text);
    if (ids.empty() || static_cast<ssm::Index>(ids.size()) > e->max_length()) __builtin_trap();
    for (auto id : ids)
      if (id <= 0 || id >= e->vocab_size()) __builtin_trap();
  }
  if (enc.encode(text) != back.encode(text)) __builtin_trap();
  const auto bytes = TextEncoder::byte_level(32);
  for (auto id : bytes.encode(text))
    if (id <= 0 || id >= 257) __builtin_trap();

  // Deserialisers on arbitrary bytes: a value or ssm::Error.
  try {
    (void)Vocabulary::deserialize(text);
  } catch (const ssm::Error&) {
  }
  try {
    (void)TextEncoder::deserialize(text);
  } catch (const ssm::Error&) {
  }
  return 0;
}
