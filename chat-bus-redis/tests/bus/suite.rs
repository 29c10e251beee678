//! chat-core's shared bus suite (the cases `PgEventBus` passes too) on two Redis nodes.

use crate::common;

chat_core::bus_tests!(common::two_nodes());
