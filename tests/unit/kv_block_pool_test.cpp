// The KV block pool's bookkeeping: reference counts, the prefix cache's published blocks, and
// least-recently-used eviction of idle cached blocks.
#include <gtest/gtest.h>

#include <vector>

#include "kv/block_pool.h"
#include "util/error.h"

namespace hearth {
namespace {

std::vector<int32_t> block_of(int32_t first, int n = 4) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(first + i);
  return t;
}

TEST(BlockPool, CountsHoldersAndFreesAtZero) {
  BlockPool pool(3, 4);
  const int32_t a = pool.alloc();
  EXPECT_EQ(pool.refcount(a), 1);
  EXPECT_EQ(pool.available(), 2);
  // A private (unpublished) block cannot be retained from free, only while in use.
  pool.retain(a);
  EXPECT_EQ(pool.refcount(a), 2);
  pool.release(a);
  EXPECT_EQ(pool.available(), 2);
  pool.release(a);
  EXPECT_EQ(pool.available(), 3);
  EXPECT_EQ(pool.idle_cached(), 0);
  EXPECT_THROW(pool.release(a), Error);
  EXPECT_THROW(pool.retain(a), Error);
  EXPECT_EQ(pool.alloc(), a);  // low numbers first
}

TEST(BlockPool, PublishedBlocksStayCachedAndAreFoundByHashAndTokens) {
  BlockPool pool(2, 4);
  const int32_t a = pool.alloc();
  EXPECT_TRUE(pool.publish(a, 111, 7, block_of(10)));
  EXPECT_FALSE(pool.publish(a, 111, 7, block_of(10)));  // once
  EXPECT_EQ(pool.find(111, 7, block_of(10)), a);
  // Same hash, other tokens or parent: a collision is a miss, never the wrong block.
  EXPECT_EQ(pool.find(111, 7, block_of(11)), -1);
  EXPECT_EQ(pool.find(111, 8, block_of(10)), -1);
  EXPECT_EQ(pool.find(112, 7, block_of(10)), -1);
  EXPECT_EQ(pool.find(111, 7, block_of(10, 3)), -1);  // not a full block

  pool.release(a);
  EXPECT_EQ(pool.idle_cached(), 1);
  EXPECT_EQ(pool.available(), 2);  // idle cached blocks count as allocatable
  EXPECT_EQ(pool.find(111, 7, block_of(10)), a);
  pool.retain(a);  // a hit takes it back from the idle list
  EXPECT_EQ(pool.idle_cached(), 0);
  EXPECT_EQ(pool.refcount(a), 1);

  // A second block with the same prefix (computed at the same time) stays private.
  const int32_t b = pool.alloc();
  EXPECT_FALSE(pool.publish(b, 111, 7, block_of(10)));
  pool.release(b);
  EXPECT_EQ(pool.idle_cached(), 0);
  pool.release(a);
}

TEST(BlockPool, EvictsTheLeastRecentlyReleasedIdleBlockOnlyWhenNothingIsFree) {
  BlockPool pool(3, 4);
  std::vector<int32_t> b;
  for (int i = 0; i < 3; ++i) {
    b.push_back(pool.alloc());
    ASSERT_TRUE(pool.publish(b[i], 100 + i, 0, block_of(i * 10)));
  }
  pool.release(b[1]);
  pool.release(b[0]);
  pool.release(b[2]);
  EXPECT_EQ(pool.idle_cached(), 3);
  // Using b[1] again makes it the most recent: the release order is now 0, 2, 1.
  pool.retain(b[1]);
  pool.release(b[1]);
  EXPECT_EQ(pool.alloc(), b[0]);
  EXPECT_EQ(pool.stats().evictions, 1u);
  EXPECT_EQ(pool.find(100, 0, block_of(0)), -1);  // gone with its memory
  EXPECT_EQ(pool.alloc(), b[2]);
  EXPECT_EQ(pool.find(101, 0, block_of(10)), b[1]);
  EXPECT_EQ(pool.alloc(), b[1]);
  EXPECT_EQ(pool.alloc(), -1);
  EXPECT_EQ(pool.stats().evictions, 3u);
  // An evicted block is private again: it is free once released.
  for (int32_t x : b) pool.release(x);
  EXPECT_EQ(pool.idle_cached(), 0);
  EXPECT_EQ(pool.available(), 3);
}

TEST(BlockPool, CachingOffForgetsEverythingAndPublishesNothing) {
  BlockPool pool(2, 4);
  const int32_t a = pool.alloc(), b = pool.alloc();
  ASSERT_TRUE(pool.publish(a, 1, 0, block_of(0)));
  ASSERT_TRUE(pool.publish(b, 2, 1, block_of(4)));
  pool.release(a);
  pool.set_caching(false);
  EXPECT_EQ(pool.idle_cached(), 0);
  EXPECT_EQ(pool.available(), 1);
  EXPECT_FALSE(pool.published(b));
  EXPECT_EQ(pool.find(2, 1, block_of(4)), -1);
  EXPECT_FALSE(pool.publish(b, 2, 1, block_of(4)));
  pool.release(b);
  EXPECT_EQ(pool.available(), 2);
  EXPECT_EQ(pool.idle_cached(), 0);
}

}  // namespace
}  // namespace hearth
