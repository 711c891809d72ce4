#include "lookup/slot_table.hpp"

#include <algorithm>

namespace tidegate::lookup {

std::uint64_t hash64(std::string_view data, std::uint64_t seed) {
  // FNV-1a, then a final mix (splitmix64) so that nearby inputs spread.
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::size_t slot_of(std::string_view key) { return hash64(key) % kSlots; }

SlotTable::SlotTable(std::vector<Member> members) : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end(), [](const Member& a, const Member& b) { return a.node < b.node; });
  std::string identity;
  for (const auto& m : members_) identity += m.node + "@" + std::to_string(m.incarnation) + ";";
  epoch_ = members_.empty() ? 0 : hash64(identity);
  if (members_.empty()) return;
  std::vector<std::uint64_t> member_hash;
  for (const auto& m : members_) member_hash.push_back(hash64(m.node));
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    const std::string slot_name = std::to_string(slot);  // the same bytes on every architecture
    std::uint64_t best = 0;
    std::size_t winner = 0;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      std::uint64_t score = hash64(slot_name, member_hash[i]);
      if (i == 0 || score > best) {
        best = score;
        winner = i;
      }
    }
    owner_[slot] = static_cast<std::uint16_t>(winner);
  }
}

const std::string& SlotTable::owner(std::size_t slot) const {
  static const std::string none;
  return members_.empty() ? none : members_[owner_[slot % kSlots]].node;
}

std::size_t SlotTable::slots_owned_by(std::string_view node) const {
  std::size_t n = 0;
  for (std::size_t slot = 0; slot < kSlots; ++slot) n += owner(slot) == node ? 1 : 0;
  return n;
}

}  // namespace tidegate::lookup
