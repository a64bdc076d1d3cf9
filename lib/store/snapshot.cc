#include "store/snapshot.h"

#include "store/db_table.h"
#include "store/rdb_save.h"
#include "store/shard.h"

namespace darter::store {

// Slot::snap lives in what was padding: the snapshot costs no memory per key.
static_assert(sizeof(Slot) == 48);

namespace {

rdb::WriterOptions ToWriterOptions(const SnapshotOptions& o) {
  rdb::WriterOptions w;
  w.rdb_version = o.rdb_version;
  w.compress = o.compress;
  w.checksum = false;  // the file or stream computes its own over all chunks
  return w;
}

inline bool Pending(const Slot& s, uint8_t mask, uint8_t parity) { return (s.snap & mask) != (parity & mask); }

}  // namespace

ShardSnapshot::ShardSnapshot(Shard& shard, Sink sink, SnapshotOptions options)
    : shard_(shard), sink_(std::move(sink)), options_(options), writer_(&byte_sink_, ToWriterOptions(options)) {
  writer_.StartBody();
}

ShardSnapshot::~ShardSnapshot() { Cancel(); }

rdb::Status ShardSnapshot::Start() {
  if (running_ || done_) return rdb::Status::Error("snapshot already started");
  unsigned k = 0;
  while (k < kMaxSnapshots && shard_.snapshots_[k]) ++k;
  if (k == kMaxSnapshots) return rdb::Status::Error("too many snapshots running on this shard");
  bit_ = k;
  shard_.snapshots_[k] = this;
  shard_.snapshot_count_++;
  // Flipping the parity makes every existing slot pending; new slots get the new stamp.
  shard_.snap_parity_ ^= static_cast<uint8_t>(1u << k);
  for (unsigned d = 0; d < shard_.db_count(); ++d) shard_.dbs_[d]->set_snap_stamp(shard_.snap_parity_);
  running_ = true;
  db_ = 0;
  cursor_ = 0;
  now_ms_ = UnixTimeMs();
  return {};
}

void ShardSnapshot::EmitSlot(unsigned db, Slot& slot) {
  const uint8_t mask = static_cast<uint8_t>(1u << bit_);
  slot.snap = static_cast<uint8_t>((slot.snap & ~mask) | (shard_.snap_parity_ & mask));
  if (!status_.ok()) return;
  if (chunk_db_ != static_cast<int>(db)) {
    status_ = writer_.WriteSelectDb(db);
    chunk_db_ = static_cast<int>(db);
    if (!status_.ok()) return;
  }
  status_ = WriteSlot(writer_, slot, now_ms_);
  if (!status_.ok()) return;
  keys_++;
  FlushChunk(false);
}

void ShardSnapshot::FlushChunk(bool force) {
  if (!status_.ok()) return;
  uint64_t pending = writer_.bytes_written() - chunk_start_;
  if (pending == 0 || (!force && pending < options_.chunk_bytes)) return;
  status_ = writer_.Flush();
  if (!status_.ok()) return;
  chunk_start_ = writer_.bytes_written();
  chunk_db_ = -1;
  bytes_ += buf_.size();
  std::string chunk = std::move(buf_);
  buf_.clear();
  sink_(std::move(chunk));
}

bool ShardSnapshot::Step(size_t budget) {
  if (!running_) return done_;
  now_ms_ = UnixTimeMs();
  const uint8_t mask = static_cast<uint8_t>(1u << bit_);
  size_t visited = 0;
  if (budget == 0) budget = 1;
  while (visited < budget && db_ < shard_.db_count()) {
    DbTable& t = *shard_.dbs_[db_];
    if (t.size() == 0) {
      db_++;
      cursor_ = 0;
      continue;
    }
    const unsigned db = db_;
    cursor_ = t.Traverse(cursor_, budget - visited, [&](Slot& s) {
      visited++;
      if (Pending(s, mask, shard_.snap_parity_)) EmitSlot(db, s);
    });
    if (cursor_ == 0) db_++;
  }
  if (db_ < shard_.db_count()) return false;
  FlushChunk(true);
  Complete();
  done_ = true;
  return true;
}

void ShardSnapshot::Finish() {
  while (!Step(SIZE_MAX)) {
  }
}

void ShardSnapshot::Complete() {
  if (!running_) return;
  running_ = false;
  shard_.snapshots_[bit_] = nullptr;
  shard_.snapshot_count_--;
}

void ShardSnapshot::Cancel() {
  if (!running_) return;
  // Restore the invariant (every slot's bit equals the parity) without emitting.
  const uint8_t mask = static_cast<uint8_t>(1u << bit_);
  const uint8_t parity = shard_.snap_parity_ & mask;
  for (; db_ < shard_.db_count(); ++db_, cursor_ = 0) {
    DbTable& t = *shard_.dbs_[db_];
    if (t.size() == 0) continue;
    do {
      cursor_ = t.Traverse(cursor_, SIZE_MAX, [&](Slot& s) { s.snap = static_cast<uint8_t>((s.snap & ~mask) | parity); });
    } while (cursor_ != 0);
  }
  Complete();
}

// ---- Shard's side ----

void Shard::SnapshotBeforeChange(unsigned db, Slot& slot) {
  for (unsigned k = 0; k < ShardSnapshot::kMaxSnapshots; ++k) {
    ShardSnapshot* snap = snapshots_[k];
    if (!snap) continue;
    const uint8_t mask = static_cast<uint8_t>(1u << k);
    if (Pending(slot, mask, snap_parity_)) snap->EmitSlot(db, slot);
  }
}

void Shard::FinishSnapshots() {
  for (unsigned k = 0; k < ShardSnapshot::kMaxSnapshots; ++k)
    if (ShardSnapshot* snap = snapshots_[k]) snap->Finish();
}

}  // namespace darter::store
