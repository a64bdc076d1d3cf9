#include "migrate/cutover.h"

#include <chrono>
#include <thread>

namespace darter::migrate {

int64_t SourceOffset(RedisConn& source) {
  auto info = source.Info("replication");
  return InfoInt(info, "master_repl_offset", -1);
}

CutoverResult Cutover(RedisConn& source, Target& target, int pause_ms) {
  using Clock = std::chrono::steady_clock;
  CutoverResult r;
  r.ran = true;
  ReplyPtr p = source.Cmd({"CLIENT", "PAUSE", std::to_string(pause_ms), "WRITE"});
  if (!p || IsError(p.get())) {
    r.error = "the source refused CLIENT PAUSE " + std::to_string(pause_ms) +
              " WRITE (needs Redis 6.2+ and the CLIENT command): " + (p ? ReplyText(p.get()) : source.error());
    return r;
  }
  auto paused_at = Clock::now();
  auto unpause = [&] {
    ReplyPtr u = source.Cmd({"CLIENT", "UNPAUSE"});
    r.pause_ms = std::chrono::duration<double, std::milli>(Clock::now() - paused_at).count();
    if (!u || IsError(u.get()))
      r.error += (r.error.empty() ? "" : "; ") + std::string("CLIENT UNPAUSE failed (writes resume when the pause of ") +
                 std::to_string(pause_ms) + " ms ends): " + (u ? ReplyText(u.get()) : source.error());
  };
  r.source_offset = SourceOffset(source);
  if (r.source_offset < 0) {
    r.error = "cannot read the source's master_repl_offset: " + source.error();
    unpause();
    return r;
  }
  // Leave a fifth of the pause for detaching and checking.
  auto deadline = paused_at + std::chrono::milliseconds(pause_ms * 4 / 5);
  ReplStatus st;
  while (true) {
    st = target.Status();
    if (st.ok && st.link_up && st.offset >= r.source_offset) break;
    if (Clock::now() >= deadline) {
      r.target_offset = st.offset;
      r.error = "the target did not reach the source's offset " + std::to_string(r.source_offset) + " within " +
                std::to_string(pause_ms * 4 / 5) + " ms (it is at " + std::to_string(st.offset) +
                (st.link_up ? "" : ", link down") + "); the source was unpaused and the target is still a replica";
      unpause();
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.target_offset = st.offset;
  if (auto err = target.ReplicaOfNoOne()) {
    r.error = *err;
    unpause();
    return r;
  }
  r.source_offset_after = SourceOffset(source);
  unpause();
  if (r.source_offset_after != r.source_offset) {
    r.error = "the source's offset moved from " + std::to_string(r.source_offset) + " to " +
              std::to_string(r.source_offset_after) +
              " while writes were paused (a client exempt from the pause?): those writes are not on the target";
    return r;
  }
  r.ok = r.target_offset == r.source_offset && r.error.empty();
  return r;
}

}  // namespace darter::migrate
