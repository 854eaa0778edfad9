//! View counts of posts: the kernel's [`ViewCounter`](surge_kernel::views::ViewCounter)
//! counting into `community_posts.view_count` (once per viewer per post per hour,
//! written in batches).

use surge_kernel::views::CountedIn;
pub use surge_kernel::views::{ViewCounter as Views, Viewer};

pub(crate) const POSTS: CountedIn = CountedIn {
    table: "community_posts",
    column: "view_count",
    key: "community",
};
