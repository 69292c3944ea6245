// Numbers as the text of checkpoint metadata, and back. std::to_chars and
// std::from_chars neither allocate nor read the locale; a stringstream does
// both, and turns a std::bad_alloc inside it into a failed read or a
// truncated write that would pass for a malformed number.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace vae {

// The number that all of `text` spells (as std::from_chars reads it: no
// leading space or '+', nothing after), or nothing.
template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const char* const last = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), last, value);
  if (result.ec != std::errc() || result.ptr != last) return std::nullopt;
  return value;
}

// Text that parse_number<T> reads back as exactly `value` (for a double, the
// shortest such text).
template <class T>
std::string number_text(T value) {
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

}  // namespace vae
