#pragma once
// Aligned text tables for people: a header row, then rows; columns are two
// spaces apart, text left-aligned, numeric columns right-aligned. Widths count
// UTF-8 code points, so client ids and topics in other scripts still line up
// (wide CJK glyphs excepted). Control characters are shown as '?' so that a
// client id cannot move the terminal's cursor.
#include <ostream>
#include <string>
#include <vector>

namespace tidegate::ctl {

enum class Align { left, right };

class Table {
 public:
  struct Column {
    std::string title;
    Align align = Align::left;
  };
  explicit Table(std::vector<Column> columns);
  // Lines at most this wide from now on (a terminal's width): the widest
  // columns are narrowed and their cells cut with "…". 0: no limit.
  static void set_max_width(std::size_t columns);

  // Missing cells are empty; extra cells are an error (std::invalid_argument).
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  // The last column is not padded, so no line ends in spaces.
  void print(std::ostream& out) const;

 private:
  // Column widths: the widest cell of each, narrowed to fit max_width.
  std::vector<std::size_t> widths() const;
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Key/value lines ("key:  value") with the values aligned.
class KeyValueList {
 public:
  void add(std::string key, std::string value);
  void print(std::ostream& out, int indent = 0) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// Replaces control characters by '?' (see above).
std::string printable(std::string_view text);

// Columns a string takes: UTF-8 code points.
std::size_t display_width(std::string_view text);

}  // namespace tidegate::ctl
