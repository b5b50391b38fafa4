#include "report/document.h"

#include <sstream>

namespace vae::report {

void Document::heading(std::string text, int level) {
  Block b{Block::Type::Heading};
  b.level = level;
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void Document::paragraph(std::string text) {
  Block b{Block::Type::Paragraph};
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void Document::code(std::string text) {
  Block b{Block::Type::Code};
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void Document::table(std::vector<std::string> header, std::vector<std::vector<Cell>> rows, bool text_table) {
  Block b{Block::Type::Table};
  b.text_table = text_table;
  b.header = std::move(header);
  b.rows = std::move(rows);
  blocks.push_back(std::move(b));
}

void Document::svg_figure(std::string file, std::string svg, std::string caption) {
  Block b{Block::Type::Figure};
  b.file = std::move(file);
  b.inline_svg = std::move(svg);
  b.text = std::move(caption);
  blocks.push_back(std::move(b));
}

void Document::png_figure(std::string file, std::string png, std::string caption) {
  Block b{Block::Type::Figure};
  b.file = std::move(file);
  b.png_bytes = std::move(png);
  b.text = std::move(caption);
  blocks.push_back(std::move(b));
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8 | (unsigned char)bytes[i + 2];
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += table[v >> 6 & 63];
    out += table[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = (unsigned char)bytes[i] << 16;
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8;
    out += table[v >> 18 & 63];
    out += table[v >> 12 & 63];
    out += table[v >> 6 & 63];
    out += '=';
  }
  return out;
}

namespace {

std::string md_cell(const Cell& c) {
  std::string t;
  for (char ch : c.text) t += ch == '|' ? std::string("\\|") : std::string(1, ch);
  switch (c.mark) {
    case Mark::Fail: return "**" + t + "**";
    case Mark::Warn: return "*" + t + "*";
    default: return t;
  }
}

}  // namespace

std::string render_markdown(const Document& doc) {
  std::ostringstream md;
  md << "# " << doc.title << "\n\n";
  for (const Block& b : doc.blocks) {
    switch (b.type) {
      case Block::Type::Heading: md << std::string(size_t(b.level), '#') << " " << b.text << "\n\n"; break;
      case Block::Type::Paragraph: md << b.text << "\n\n"; break;
      case Block::Type::Code: md << "```\n" << b.text << (b.text.empty() || b.text.back() != '\n' ? "\n" : "") << "```\n\n"; break;
      case Block::Type::Table: {
        md << "|";
        for (const std::string& h : b.header) md << " " << h << " |";
        md << "\n|";
        for (size_t i = 0; i < b.header.size(); ++i) md << (i == 0 || b.text_table ? " --- |" : " ---: |");
        md << "\n";
        for (const auto& row : b.rows) {
          md << "|";
          for (const Cell& c : row) md << " " << md_cell(c) << " |";
          md << "\n";
        }
        md << "\n";
        break;
      }
      case Block::Type::Figure: md << "![" << b.text << "](" << b.file << ")\n\n*" << b.text << "*\n\n"; break;
    }
  }
  return md.str();
}

std::string render_html(const Document& doc) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_escape(doc.title)
    << "</title>\n<style>\n"
       "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}\n"
       "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}\n"
       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
       "th{background:#f0f0f0}\ntd:first-child,th:first-child,table.text td,table.text th{text-align:left}\n"
       "td.pass{color:#1a7f37;font-weight:bold}\ntd.fail{color:#fff;background:#cf222e;font-weight:bold}\n"
       "td.warn{color:#9a6700;font-weight:bold}\ntd.muted{color:#888}\n"
       "figure{margin:1em 0 2em}\nfigcaption{font-size:13px;color:#555}\nfigure img{max-width:100%;"
       "image-rendering:pixelated}\npre{background:#f6f8fa;padding:0.8em;overflow-x:auto;font-size:12px}\n"
       "</style>\n</head>\n<body>\n<h1>"
    << html_escape(doc.title) << "</h1>\n";
  for (const Block& b : doc.blocks) {
    switch (b.type) {
      case Block::Type::Heading: h << "<h" << b.level << ">" << html_escape(b.text) << "</h" << b.level << ">\n"; break;
      case Block::Type::Paragraph: h << "<p>" << html_escape(b.text) << "</p>\n"; break;
      case Block::Type::Code: h << "<pre>" << html_escape(b.text) << "</pre>\n"; break;
      case Block::Type::Table: {
        h << (b.text_table ? "<table class=\"text\">\n<tr>" : "<table>\n<tr>");
        for (const std::string& x : b.header) h << "<th>" << html_escape(x) << "</th>";
        h << "</tr>\n";
        for (const auto& row : b.rows) {
          h << "<tr>";
          for (const Cell& c : row) {
            const char* cls = c.mark == Mark::Pass   ? " class=\"pass\""
                              : c.mark == Mark::Fail ? " class=\"fail\""
                              : c.mark == Mark::Warn ? " class=\"warn\""
                              : c.mark == Mark::Muted ? " class=\"muted\""
                                                      : "";
            h << "<td" << cls << ">" << html_escape(c.text) << "</td>";
          }
          h << "</tr>\n";
        }
        h << "</table>\n";
        break;
      }
      case Block::Type::Figure:
        h << "<figure id=\"" << html_escape(b.file) << "\">\n";
        if (!b.inline_svg.empty()) h << b.inline_svg << "\n";
        else
          h << "<img alt=\"" << html_escape(b.text) << "\" src=\"data:image/png;base64," << base64(b.png_bytes)
            << "\">\n";
        h << "<figcaption>" << html_escape(b.text) << "</figcaption>\n</figure>\n";
        break;
    }
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace vae::report
