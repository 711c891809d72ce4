#pragma once
// Which gateway holds which part of the lookup (docs/cluster.md, "The lookup"):
// keys hash to one of kSlots slots, and each slot belongs to one member, chosen
// by rendezvous hashing (the member with the highest hash of slot and member).
// Every gateway that sees the same members computes the same table, with the
// same epoch, without talking to the others; a member added or lost moves only
// the slots it wins or held.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tidegate::lookup {

inline constexpr std::size_t kSlots = 1024;

struct Member {
  std::string node;
  std::uint64_t incarnation = 0;  // the process's start: a restarted node is a new member
  bool operator==(const Member&) const = default;
};

std::uint64_t hash64(std::string_view data, std::uint64_t seed = 0);
std::size_t slot_of(std::string_view key);

class SlotTable {
 public:
  SlotTable() = default;
  explicit SlotTable(std::vector<Member> members);

  // The owner of `slot`; empty when there are no members.
  const std::string& owner(std::size_t slot) const;
  const std::string& owner_of(std::string_view key) const { return owner(slot_of(key)); }
  // Identifies the member list: equal epochs, equal tables.
  std::uint64_t epoch() const { return epoch_; }
  const std::vector<Member>& members() const { return members_; }
  std::size_t slots_owned_by(std::string_view node) const;

 private:
  std::vector<Member> members_;  // sorted by node
  std::array<std::uint16_t, kSlots> owner_{};
  std::uint64_t epoch_ = 0;
};

}  // namespace tidegate::lookup
