#include "tools/ctl/table.hpp"

#include <algorithm>
#include <stdexcept>

namespace tidegate::ctl {

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;  // count lead bytes, not continuation bytes
  return n;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

namespace {
std::size_t g_max_width = 0;  // set once by main, before any table is printed

// The first `width` columns of `text`, the last one "…" when cut.
std::string fit(const std::string& text, std::size_t width) {
  if (display_width(text) <= width) return text;
  std::string out;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool lead = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (lead && ++shown > width - 1) break;
    out += text[i];
  }
  return out + "…";
}
}  // namespace

void Table::set_max_width(std::size_t columns) { g_max_width = columns; }

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

std::vector<std::size_t> Table::widths() const {
  std::vector<std::size_t> width(columns_.size());
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    width[i] = display_width(columns_[i].title);
    for (const auto& row : rows_) width[i] = std::max(width[i], display_width(row[i]));
  }
  if (g_max_width == 0 || columns_.empty()) return width;
  auto total = [&] {
    std::size_t sum = 2 * (width.size() - 1);
    for (auto w : width) sum += w;
    return sum;
  };
  // Narrow the widest column, one step at a time (long ids and filters go
  // first; titles are cut too when that is not enough), to 6 at least.
  while (total() > g_max_width) {
    std::size_t widest = width.size();
    for (std::size_t i = 0; i < width.size(); ++i)
      if (width[i] > 6 && (widest == width.size() || width[i] > width[widest])) widest = i;
    if (widest == width.size()) break;  // as narrow as they go: the terminal wraps
    --width[widest];
  }
  return width;
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size()) throw std::invalid_argument("table row has more cells than columns");
  cells.resize(columns_.size());
  for (auto& c : cells) c = printable(c);
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  const auto width = widths();
  auto line = [&](auto cell_of) {
    std::string text;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const std::string cell = fit(cell_of(i), width[i]);
      std::size_t pad = width[i] - display_width(cell);
      bool last = i + 1 == columns_.size();
      if (columns_[i].align == Align::right) {
        text.append(pad, ' ');
        text += cell;
      } else {
        text += cell;
        if (!last) text.append(pad, ' ');
      }
      if (!last) text += "  ";
    }
    out << text << '\n';
  };
  line([&](std::size_t i) -> const std::string& { return columns_[i].title; });  // cut as cells are
  for (const auto& row : rows_) line([&](std::size_t i) -> const std::string& { return row[i]; });
}

void KeyValueList::add(std::string key, std::string value) {
  items_.emplace_back(std::move(key), printable(value));
}

void KeyValueList::print(std::ostream& out, int indent) const {
  std::size_t width = 0;
  for (const auto& [k, v] : items_) width = std::max(width, display_width(k) + 1);
  for (const auto& [k, v] : items_) {
    out << std::string(static_cast<std::size_t>(indent), ' ') << k << ':';
    if (!v.empty()) out << std::string(width - display_width(k) - 1 + 2, ' ') << v;
    out << '\n';
  }
}

}  // namespace tidegate::ctl
