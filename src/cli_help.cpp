#include "cli_help.h"

#include <sstream>
#include <vector>

#include "catdog/app/commands.h"
#include "catdog/base/error.h"
#include "catdog/base/text.h"

namespace catdog::cli {

namespace {

constexpr size_t kTerminalWidth = 80;
constexpr size_t kNameColumn = 30;  // where descriptions start

// `text`'s words in lines of at most `width` characters (a longer word gets its own line).
std::vector<std::string> wrapped(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::istringstream paragraphs(text);
  for (std::string paragraph; std::getline(paragraphs, paragraph);) {
    std::istringstream words(paragraph);
    std::string line;
    for (std::string word; words >> word;) {
      if (!line.empty() && line.size() + 1 + word.size() > width) {
        lines.push_back(line);
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    lines.push_back(line);
  }
  return lines;
}

std::string wrapped_block(const std::string& text) {
  std::string block;
  for (const auto& line : wrapped(text, kTerminalWidth)) block += line + "\n";
  return block;
}

// "  name  description", the description wrapped in its column (on the next
// line when the name reaches into it).
std::string two_columns(const std::string& name, const std::string& description) {
  std::string text = "  " + name;
  const auto lines = wrapped(description, kTerminalWidth - kNameColumn);
  if (lines.empty() || description.empty()) return text + "\n";
  if (text.size() + 1 > kNameColumn) text += "\n" + std::string(kNameColumn, ' ');
  else text += std::string(kNameColumn - text.size(), ' ');
  for (size_t i = 0; i < lines.size(); ++i) text += (i ? std::string(kNameColumn, ' ') : "") + lines[i] + "\n";
  return text;
}

// CLI11 writes a flag's default value after its negated name: "--no-augment{false}".
std::string without_flag_values(std::string names) {
  for (size_t open; (open = names.find('{')) != std::string::npos;) {
    const size_t close = names.find('}', open);
    if (close == std::string::npos) break;
    names.erase(open, close - open + 1);
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& cli) {
  std::vector<std::string> names;
  for (const auto* subcommand : cli.get_subcommands({})) names.push_back(subcommand->get_name());
  return names;
}

// The option of `app` named by `word` ("--epochs", "-v"), or null.
const CLI::Option* option_named(const CLI::App& app, const std::string& word) {
  for (const auto* option : app.get_options())
    if (option->check_name(word)) return option;
  return nullptr;
}

// Every long and short name of `app`'s options, dashes included.
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) names.push_back("--" + name);
    for (const auto& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

// The subcommand the arguments name, "" when none; the global flags (and
// their values) may come first. Sets `first_word` to the first argument
// that is no flag and no flag's value.
std::string named_subcommand(const CLI::App& cli, int argc, char** argv, std::string* first_word = nullptr) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] != '-') {
      if (first_word) *first_word = word;
      for (const auto& name : subcommand_names(cli))
        if (name == word) return name;
      return "";
    }
    if (word.find('=') != std::string::npos) continue;
    const CLI::Option* option = option_named(cli, word);
    if (option && option->get_expected_max() > 0) ++i;  // its value
  }
  return "";
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string match = closest_match(word, candidates);
  return match.empty() ? "" : ": did you mean " + match + "?";
}

std::string unknown_subcommand(const CLI::App& cli, const std::string& word) {
  const auto names = subcommand_names(cli);
  const std::string match = closest_match(word, names);
  if (!match.empty()) return "unknown subcommand '" + word + "': did you mean '" + match + "'? (see catdog help)";
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  return "unknown subcommand '" + word + "': the subcommands are " + list + " (see catdog help)";
}

}  // namespace

CompactFormatter::CompactFormatter() { column_width(kNameColumn); }

std::string CompactFormatter::make_option(const CLI::Option* option, bool is_positional) const {
  return two_columns(without_flag_values(make_option_name(option, is_positional)) + make_option_opts(option),
                     make_option_desc(option));
}

std::string CompactFormatter::make_option_opts(const CLI::Option* option) const {
  if (option->get_expected_max() == 0) return "";  // a flag
  // get_type_name(): "INT:INT in [1 - 4]", "TEXT:{auto,cpu,cuda}", "FLOAT:FINITE > 0".
  const std::string type = option->get_type_name();
  const size_t open = type.find('{'), close = type.find('}');
  const bool choices = open != std::string::npos && close != std::string::npos;
  std::string text = " " + (choices ? type.substr(open, close - open + 1) : type.substr(0, type.find(':')));
  if (!option->get_default_str().empty()) text += "=" + option->get_default_str();
  if (option->get_expected_max() > 1) text += " ...";
  if (option->get_required()) text += " (required)";
  return text;
}

std::string CompactFormatter::make_subcommand(const CLI::App* subcommand) const {
  return two_columns(subcommand->get_name(), subcommand->get_description());
}

std::string CompactFormatter::make_description(const CLI::App* app) const {
  return app->get_description().empty() ? "" : wrapped_block(app->get_description());
}

std::string CompactFormatter::make_footer(const CLI::App* app) const {
  return app->get_footer().empty() ? "" : wrapped_block(app->get_footer());
}

std::optional<int> answer_before_parsing(const CLI::App& cli, int argc, char** argv, std::ostream& out,
                                         std::ostream& err) {
  if (argc == 1) {
    out << cli.help();
    return app::kExitOk;
  }
  std::string first_word;
  const std::string subcommand = named_subcommand(cli, argc, argv, &first_word);
  if (first_word == "help") {
    // `catdog help [SUBCOMMAND]`: the list, or that subcommand's --help.
    const std::string topic = argc > 2 && std::string(argv[1]) == "help" ? argv[2] : "";
    if (topic.empty()) {
      out << cli.help();
      return app::kExitOk;
    }
    for (const auto* candidate : cli.get_subcommands({}))
      if (candidate->get_name() == topic) {
        out << candidate->help("catdog");
        return app::kExitOk;
      }
    err << "catdog: error: " << unknown_subcommand(cli, topic) << "\n";
    return app::kExitUsage;
  }
  if (!first_word.empty() && subcommand.empty()) {
    err << "catdog: error: " << unknown_subcommand(cli, first_word) << "\n";
    return app::kExitUsage;
  }
  return std::nullopt;
}

std::string explain_parse_error(const CLI::App& cli, const CLI::ParseError& error, int argc, char** argv) {
  const std::string plain = first_line(error.what()) + " (see catdog --help)";
  if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr) return plain;
  const std::string name = named_subcommand(cli, argc, argv);
  const CLI::App* subcommand = name.empty() ? nullptr : cli.get_subcommand(name);
  std::vector<std::string> candidates = option_names(cli);
  if (subcommand) {
    const auto own = option_names(*subcommand);
    candidates.insert(candidates.end(), own.begin(), own.end());
  }
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word.rfind("--", 0) != 0) continue;
    word = word.substr(0, word.find('='));
    if (option_named(cli, word) || (subcommand && option_named(*subcommand, word))) continue;
    const std::string where = subcommand ? "catdog " + name : "catdog";
    return "unknown flag " + word + " for " + where + did_you_mean(word, candidates) + " (see " + where + " --help)";
  }
  return plain;
}

}  // namespace catdog::cli
