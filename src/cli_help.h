// What the command line says to a person: --help at 80 columns, the
// subcommand list for bare `catdog` and `catdog help`, and "did you mean" for
// a mistyped subcommand or flag. main.cpp declares the flags; this file only
// words them.
#pragma once
#include <optional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

namespace catdog::cli {

// --help without CLI11's type noise ("INT:INT in [1 - 2147483647]", a flag's
// "{false}"): a value's placeholder is its type (INT, FLOAT, TEXT) or its
// choices ("{auto,cpu,cuda}"), then "=default"; descriptions wrap at 80 columns.
class CompactFormatter : public CLI::Formatter {
 public:
  CompactFormatter();
  std::string make_option(const CLI::Option* option, bool is_positional) const override;
  std::string make_option_opts(const CLI::Option* option) const override;
  std::string make_subcommand(const CLI::App* subcommand) const override;
  std::string make_description(const CLI::App* app) const override;
  std::string make_footer(const CLI::App* app) const override;
};

// Before CLI11 parses: bare `catdog` and `catdog help [SUBCOMMAND]` print the
// help (exit 0), and a first word that is no subcommand is refused with the
// nearest name. Returns the exit code when it answered, nullopt to parse.
std::optional<int> answer_before_parsing(const CLI::App& cli, int argc, char** argv, std::ostream& out,
                                         std::ostream& err);

// A parse error as one line (without "catdog: error: "): an unknown flag
// names the flag most like it.
std::string explain_parse_error(const CLI::App& cli, const CLI::ParseError& error, int argc, char** argv);

}  // namespace catdog::cli
