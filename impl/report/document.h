#pragma once
// The report as a list of blocks (headings, paragraphs, tables, figures) rendered twice:
// GitHub-flavoured Markdown that references the figure files, and one self-contained HTML
// page with the SVG figures inline and the PNG pictures as data: URIs, so it opens offline
// and can be mailed as one file. Writing the content once keeps the two from drifting.
#include <string>
#include <vector>

namespace vae::report {

enum class Mark { None, Pass, Fail, Warn, Muted };

struct Cell {
  std::string text;
  Mark mark = Mark::None;
  Cell(const char* t) : text(t) {}
  Cell(std::string t, Mark m = Mark::None) : text(std::move(t)), mark(m) {}
};

struct Block {
  enum class Type { Heading, Paragraph, Table, Figure, Code } type;
  int level = 2;                          // Heading
  std::string text;                       // Heading, Paragraph (plain text), Code, Figure caption
  std::vector<std::string> header;        // Table
  std::vector<std::vector<Cell>> rows;    // Table
  bool text_table = false;                // Table: every column left-aligned (a key/value list)
  std::string file;                       // Figure: file name inside the report folder
  std::string inline_svg;                 // Figure: the SVG document, when the figure is SVG
  std::string png_bytes;                  // Figure: the PNG bytes, when it is a picture
};

struct Document {
  std::string title;
  std::vector<Block> blocks;

  void heading(std::string text, int level = 2);
  void paragraph(std::string text);
  void code(std::string text);
  void table(std::vector<std::string> header, std::vector<std::vector<Cell>> rows, bool text_table = false);
  void svg_figure(std::string file, std::string svg, std::string caption);
  void png_figure(std::string file, std::string png, std::string caption);
};

std::string render_markdown(const Document& doc);
std::string render_html(const Document& doc);

std::string base64(const std::string& bytes);
std::string html_escape(const std::string& s);

}  // namespace vae::report
