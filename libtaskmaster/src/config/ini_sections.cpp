// The supervisord reader: [include], [supervisord], the HTTP servers, and the sections taskmaster keeps or
// only warns about (ini_reader.hpp).
#include "config/ini_reader.hpp"

#include <glob.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "config/ini_values.hpp"
#include "util/text.hpp"

namespace taskmaster::inline v0::detail {

namespace {

// Every key of [supervisord] that supervisord reads.
constexpr std::array kSupervisordKeys{
    "logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask", "nodaemon", "silent", "minfds",
    "minprocs", "nocleanup", "childlogdir", "user", "directory", "strip_ansi", "environment", "identifier"};

}  // namespace

void SupervisordReader::readIncludes() {
  const auto* include = document_.find("include");
  if (include == nullptr) return;
  unknownKeys(*include, {"files"});
  const auto* found = include->find("files");
  if (found == nullptr) {
    error(*include, "no files= key");
    return;
  }
  const IniValue files = *found;  // an included file's own [include] replaces the value, and is ignored
  Expansions names = environment_;
  names["host_node_name"] = hostNode_;
  auto patterns = expanded(files, *include, names);
  if (!patterns) return;
  // Relative to the main file's directory, even in an included file: the patterns are read before any.
  const std::filesystem::path base = directoryOf(main_);
  std::vector<std::string> words;
  std::string_view rest = *patterns;
  while (!(rest = trim(rest)).empty()) {
    auto end = std::ranges::find_if(rest, [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
    words.emplace_back(rest.begin(), end);
    rest.remove_prefix(static_cast<std::size_t>(end - rest.begin()));
  }
  for (const auto& word : words) includePattern(files, (base / word).string());
}

void SupervisordReader::includePattern(const IniValue& files, const std::string& pattern) {
  glob_t found{};
  const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &found);
  std::vector<std::string> paths(found.gl_pathv, found.gl_pathv + (rc == 0 ? found.gl_pathc : 0));
  ::globfree(&found);
  if (paths.empty()) {
    warning(files, "include", fmt::format("no file matches '{}'", pattern));
    return;
  }
  std::ranges::sort(paths);  // by bytes, as Python's sorted(): not the locale's collation glob() would use
  for (const auto& path : paths) {
    auto text = readFile(path);
    if (!text.ok()) {
      error(files, "include", fmt::format("{}: {}", path, text.error().message));
      continue;
    }
    order_.push_back(path);
    std::vector<Bad> syntax;
    // The included file's own [include] is read as a section and never acted on, as supervisord does.
    parseIni(*text, path, document_, syntax);
    for (auto& bad : syntax) error(path, bad.at.line, "", std::move(bad.message));
  }
}

void SupervisordReader::readSupervisord() {
  const auto* section = document_.find("supervisord");
  if (section == nullptr) {
    warning(main_, 0, "", "no [supervisord] section (supervisord requires one; taskmaster uses its defaults)");
    readEnvironment(nullptr);
    return;
  }
  unknownKeys(*section, {kSupervisordKeys.begin(), kSupervisordKeys.end()});
  auto& config = result_.config;
  const Expansions& names = environment_;
  bool failed = false;
  auto path = [](std::string_view text) -> Checked<std::string> { return expandUser(text); };
  if (auto logfile = optional(*section, "logfile", names, path, failed)) {
    if (toLower(*logfile) == "syslog") {
      warning(*document_.get(*section, "logfile"), section->name,
              "syslog is not supported yet: taskmaster's log goes where --log says (taskmaster.log by default)");
    } else if (checkDirectoryOf(*section, "logfile", *logfile)) {
      config.logfile = *logfile;
    }
  }
  config.logfileMaxBytes = optional(*section, "logfile_maxbytes", names, iniSize, failed);
  config.logfileBackups = optional(
      *section, "logfile_backups", names, [](std::string_view t) { return iniCount(t, 0); }, failed);
  config.loglevel = optional(*section, "loglevel", names, iniLogLevel, failed);
  if (auto pidfile = optional(*section, "pidfile", names, path, failed)) {
    if (checkDirectoryOf(*section, "pidfile", *pidfile)) config.pidfile = *pidfile;
  }
  config.umask = optional(*section, "umask", names, iniOctal, failed);
  if (auto directory = optional(*section, "directory", names, path, failed)) {
    if (checkDirectory(*section, "directory", *directory)) config.directory = *directory;
  }
  auto count = [](std::string_view text) -> Checked<std::uint64_t> {
    auto value = iniCount(text, 0);
    if (!value.ok()) return value.error();
    return static_cast<std::uint64_t>(*value);
  };
  config.minfds = optional(*section, "minfds", names, count, failed);
  config.minprocs = optional(*section, "minprocs", names, count, failed);
  auto text = [](std::string_view value) -> Checked<std::string> { return std::string(value); };
  if (auto identifier = optional(*section, "identifier", names, text, failed)) config.identifier = *identifier;
  // Accepted: taskmaster's command line decides the foreground and the output (docs/supervisord.md).
  for (auto key : {"nodaemon", "silent", "nocleanup"}) (void)optional(*section, key, names, iniBoolean, failed);
  if (auto directory = optional(*section, "childlogdir", names, path, failed)) {
    if (checkDirectory(*section, "childlogdir", *directory)) childlogdir_ = *directory;
  }
  if (const auto* user = document_.get(*section, "user")) {
    warning(*user, section->name, "switching taskmaster's own user is not supported; run it as that user instead");
  }
  if (optional(*section, "strip_ansi", names, iniBoolean, failed).value_or(false)) {
    warning(*document_.get(*section, "strip_ansi"), section->name, "not supported yet: output is kept as written");
  }
  readEnvironment(section);
}

bool SupervisordReader::checkDirectory(const IniSection& section, std::string_view key, const std::string& path) {
  std::error_code code;
  if (std::filesystem::is_directory(path, code)) return true;
  error(*document_.get(section, key), section.name, fmt::format("'{}' is not an existing directory", path));
  return false;
}

bool SupervisordReader::checkDirectoryOf(const IniSection& section, std::string_view key, const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code code;
  if (parent.empty() || std::filesystem::is_directory(parent, code)) return true;
  error(*document_.get(section, key), section.name, fmt::format("the directory of '{}' does not exist", path));
  return false;
}

void SupervisordReader::readEnvironment(const IniSection* section) {
  const IniValue* value = section != nullptr ? document_.get(*section, "environment") : nullptr;
  if (value == nullptr) return;
  Expansions names = environment_;
  auto once = expanded(*value, *section, names);
  if (!once) return;
  names["host_node_name"] = hostNode_;
  IniValue again = *value;
  again.text = *once;
  auto text = expanded(again, *section, names);  // supervisord expands this one twice
  if (!text) return;
  auto pairs = iniEnvironment(*text);
  if (!pairs.ok()) {
    error(*value, section->name, std::move(pairs.error().message));
    return;
  }
  for (auto& [key, variable] : *pairs) {
    environment_[fmt::format("ENV_{}", key)] = variable;
    globalEnvironment_[key] = std::move(variable);
  }
}

void SupervisordReader::readServers() {
  for (const auto& section : document_.sections) {
    const bool inet = section.name.starts_with("inet_http_server");
    const bool unix = section.name.starts_with("unix_http_server");
    if (!inet && !unix) continue;
    readServer(section, inet);
  }
  // supervisord's SUPERVISOR_SERVER_URL: the first unix socket, else the last inet server.
  for (const auto& server : result_.config.httpServers) {
    if (server.kind == HttpServerConfig::Kind::unix_socket) {
      serverUrl_ = fmt::format("unix://{}", server.address);
      return;
    }
  }
  for (const auto& server : result_.config.httpServers) {
    const auto colon = server.address.rfind(':');
    const auto host = server.address.substr(0, colon);
    serverUrl_ = fmt::format("http://{}:{}", host.empty() ? "localhost" : host, server.address.substr(colon + 1));
  }
}

void SupervisordReader::readServer(const IniSection& section, bool inet) {
  HttpServerConfig server;
  server.kind = inet ? HttpServerConfig::Kind::inet : HttpServerConfig::Kind::unix_socket;
  unknownKeys(section, inet ? std::vector<std::string>{"port", "username", "password"}
                            : std::vector<std::string>{"file", "chmod", "chown", "username", "password"});
  bool failed = false;
  auto text = [](std::string_view value) -> Checked<std::string> { return std::string(value); };
  const char* addressKey = inet ? "port" : "file";
  auto address = inet ? optional(section, addressKey, environment_, iniInetAddress, failed)
                      : optional(section, addressKey, environment_, text, failed);
  if (!address && !failed) error(section, fmt::format("missing '{}'", addressKey));
  if (address) server.address = inet ? *address : std::string(trim(*address));
  if (!inet) {
    server.chmod = optional(section, "chmod", environment_, iniOctal, failed).value_or(0700);
    server.chown = optional(section, "chown", environment_, iniOwner, failed);
  }
  server.username = optional(section, "username", environment_, text, failed);
  server.password = optional(section, "password", environment_, text, failed);
  if (server.username.has_value() != server.password.has_value()) {
    error(section, "a username without a password, or a password without a username: give both or neither");
    failed = true;
  }
  if (!failed) result_.config.httpServers.push_back(std::move(server));
}

void SupervisordReader::readOtherSections() {
  for (const auto& section : document_.sections) {
    const auto& name = section.name;
    const auto kind = name.substr(0, name.find(':'));
    if (name == "supervisorctl") {
      for (const auto& value : section.values) {
        auto text = expand(value.text, withHere(environment_, value));
        result_.config.supervisorctl[value.key] = text.ok() ? *text : value.text;
      }
    } else if (kind == "rpcinterface") {
      const auto* factory = section.find("supervisor.rpcinterface_factory");
      if (name != "rpcinterface:supervisor" || factory == nullptr ||
          factory->text != "supervisor.rpcinterface:make_main_rpcinterface") {
        warning(section, "XML-RPC interface plugins are not supported; this section is ignored");
      }
    } else if (kind == "fcgi-program") {
      warning(section, "FastCGI programs are not supported (taskmaster passes no sockets); not run");
    } else if (kind != "supervisord" && kind != "include" && kind != "program" && kind != "group" &&
               kind != "eventlistener" && kind != "ctlplugin" && !name.starts_with("inet_http_server") &&
               !name.starts_with("unix_http_server")) {
      warning(section, "unknown section; ignored");
    }
  }
}

}  // namespace taskmaster::inline v0::detail
