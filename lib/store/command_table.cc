#include "store/command_table.h"

#include <algorithm>
#include <cctype>

namespace darter::store {

namespace {
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::vector<size_t> CommandSpec::KeyIndices(ArgList args) const {
  if (key_extractor) return key_extractor(args);
  std::vector<size_t> out;
  if (first_key <= 0) return out;
  int last = last_key < 0 ? static_cast<int>(args.size()) + last_key : last_key;
  for (int i = first_key; i <= last && i < static_cast<int>(args.size()); i += key_step) out.push_back(i);
  return out;
}

CommandSpec MakeSpec(std::string_view name, int arity, uint32_t flags, int first_key, int last_key, int key_step,
                     std::vector<std::string> categories) {
  CommandSpec s;
  s.name = name;
  s.arity = arity;
  s.flags = flags;
  s.first_key = first_key;
  s.last_key = last_key;
  s.key_step = key_step;
  s.categories = std::move(categories);
  return s;
}

CommandSpec MakeConnectionSpec(std::string_view name, int arity, uint32_t flags, ConnectionHandler handler,
                               std::vector<std::string> categories) {
  CommandSpec s = MakeSpec(name, arity, flags, 0, 0, 0, std::move(categories));
  s.conn_handler = handler;
  return s;
}

CommandTable& CommandTable::Global() {
  static CommandTable* table = [] {
    auto* t = new CommandTable();
    RegisterStringFamily(*t);
    RegisterGenericFamily(*t);
    RegisterListFamily(*t);
    RegisterHashFamily(*t);
    RegisterSetFamily(*t);
    RegisterZsetFamily(*t);
    RegisterSortFamily(*t);
    RegisterGeoFamily(*t);
    RegisterStreamFamily(*t);
    RegisterHllFamily(*t);
    RegisterBitopsFamily(*t);
    RegisterDumpFamily(*t);
    RegisterBlockingFamily(*t);
    return t;
  }();
  return *table;
}

void CommandTable::Register(CommandSpec spec) {
  spec.name = Lower(spec.name);
  auto owned = std::make_unique<CommandSpec>(std::move(spec));
  by_name_[owned->name] = owned.get();
  specs_.push_back(std::move(owned));
}

const CommandSpec* CommandTable::Find(std::string_view name) const {
  char buf[64];
  if (name.size() >= sizeof buf) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  auto it = by_name_.find(std::string(buf, name.size()));
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace darter::store
