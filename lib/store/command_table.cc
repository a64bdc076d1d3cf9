#include "store/command_table.h"

#include <algorithm>
#include <array>

#include "store/lcs_family.h"

namespace darter::store {

namespace {

constexpr char FoldAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

constexpr std::array<std::string_view, 21> kAclCategoryNames = {
    "@keyspace", "@read",  "@write", "@set",      "@sortedset", "@list",       "@hash",
    "@string",   "@bitmap", "@hyperloglog", "@geo", "@stream",   "@pubsub",     "@admin",
    "@fast",     "@slow",  "@blocking", "@dangerous", "@connection", "@transaction", "@scripting"};
static_assert(kAclScripting == 1u << (kAclCategoryNames.size() - 1), "one name per AclCategory bit");

}  // namespace

std::vector<std::string_view> AclCategoryNames(uint32_t categories) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < kAclCategoryNames.size(); ++i)
    if (categories & (1u << i)) out.push_back(kAclCategoryNames[i]);
  return out;
}

std::vector<size_t> CommandSpec::KeyIndices(ArgList args) const {
  if (key_extractor) return key_extractor(args);
  std::vector<size_t> out;
  if (first_key <= 0) return out;
  int last = last_key < 0 ? static_cast<int>(args.size()) + last_key : last_key;
  for (int i = first_key; i <= last && i < static_cast<int>(args.size()); i += key_step) out.push_back(i);
  return out;
}

const SubcommandSpec* CommandSpec::FindSubcommand(std::string_view sub) const {
  for (const SubcommandSpec& s : subcommands) {
    if (s.name.size() != sub.size()) continue;
    bool same = true;
    for (size_t i = 0; i < sub.size() && same; ++i) same = s.name[i] == FoldAscii(sub[i]);
    if (same) return &s;
  }
  return nullptr;
}

// ---- CommandTable ----

CommandTable& CommandTable::Global() {
  static CommandTable table;
  return table;
}

size_t CommandTable::FoldedHash::operator()(std::string_view s) const noexcept {
  // FNV-1a over the folded bytes: command names are short, so a byte loop beats hashing
  // a lowered copy.
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(FoldAscii(c));
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

bool CommandTable::FoldedEqual::operator()(std::string_view a, std::string_view b) const noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (FoldAscii(a[i]) != FoldAscii(b[i])) return false;
  return true;
}

void CommandTable::Register(CommandSpec spec) {
  for (char& c : spec.name) c = FoldAscii(c);
  auto owned = std::make_unique<CommandSpec>(std::move(spec));
  longest_name_ = std::max(longest_name_, owned->name.size());
  by_name_[owned->name] = owned.get();
  specs_.push_back(std::move(owned));
}

const CommandSpec* CommandTable::Find(std::string_view name) const {
  if (name.size() > longest_name_) return nullptr;
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

// ---- Registration ----

uint32_t ImpliedAclCategories(uint32_t flags, uint32_t categories) {
  if (flags & kCmdWrite) categories |= kAclWrite;
  if ((flags & kCmdReadOnly) && !(categories & kAclScripting)) categories |= kAclRead;
  if (flags & kCmdAdmin) categories |= kAclAdmin | kAclDangerous;
  if (flags & kCmdPubSub) categories |= kAclPubSub;
  if (flags & kCmdFast) categories |= kAclFast;
  if (flags & kCmdBlocking) categories |= kAclBlocking;
  if (!(categories & kAclFast)) categories |= kAclSlow;
  return categories;
}

CommandRow::CommandRow(std::string_view name, int arity, uint32_t flags, int first_key, int last_key,
                       int key_step) {
  spec_.name = name;
  spec_.arity = arity;
  spec_.flags = flags;
  spec_.first_key = first_key;
  spec_.last_key = last_key;
  spec_.key_step = key_step;
}

CommandRow& CommandRow::Shard(ShardHandler handler) {
  spec_.shard_handler = handler;
  return *this;
}

CommandRow& CommandRow::MultiShard(MultiShardFactory factory) {
  spec_.multi_shard = factory;
  return *this;
}

CommandRow& CommandRow::Connection(ConnectionHandler handler) {
  spec_.conn_handler = handler;
  return *this;
}

CommandRow& CommandRow::Keys(KeyExtractor extractor) {
  spec_.key_extractor = extractor;
  return *this;
}

CommandRow& CommandRow::Validate(ArgValidator validator) {
  spec_.validate = validator;
  return *this;
}

CommandRow& CommandRow::Acl(uint32_t categories) {
  acl_ |= categories;
  return *this;
}

CommandRow& CommandRow::Container() {
  container_ = true;
  return *this;
}

CommandRow& CommandRow::Subcommands(std::initializer_list<Sub> subs) {
  subs_.insert(subs_.end(), subs.begin(), subs.end());
  return *this;
}

Sub::Sub(std::string_view name, int arity, uint32_t flags, int first_key, int last_key, int key_step) {
  for (char c : name) spec_.name.push_back(FoldAscii(c));
  spec_.arity = arity;
  spec_.flags = flags;
  spec_.first_key = first_key;
  spec_.last_key = last_key;
  spec_.key_step = key_step;
}

Sub& Sub::Acl(uint32_t categories) {
  spec_.acl_categories |= categories;
  return *this;
}

CommandSpec CommandRow::Build(uint32_t family_acl) const {
  CommandSpec s = spec_;
  s.container = container_;
  s.acl_categories = container_ ? uint32_t{kAclSlow} : ImpliedAclCategories(s.flags, acl_ | family_acl);
  for (const Sub& sub : subs_) {
    SubcommandSpec sc = sub.spec_;
    sc.acl_categories = ImpliedAclCategories(sc.flags, sc.acl_categories | acl_ | family_acl);
    s.subcommands.push_back(std::move(sc));
  }
  return s;
}

void RegisterStoreFamilies(CommandTable& t) {
  RegisterStringFamily(t);
  RegisterLcsFamily(t);
  RegisterGenericFamily(t);
  RegisterListFamily(t);
  RegisterHashFamily(t);
  RegisterSetFamily(t);
  RegisterZsetFamily(t);
  RegisterSortFamily(t);
  RegisterGeoFamily(t);
  RegisterStreamFamily(t);
  RegisterHllFamily(t);
  RegisterBitopsFamily(t);
  RegisterDumpFamily(t);
  RegisterBlockingFamily(t);
}

}  // namespace darter::store
