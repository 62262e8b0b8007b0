// SPDX-License-Identifier: Apache-2.0
// A `Store` assembled from one implementation of each part (SessionStore, RunStore,
// DispatchStore), forwarding every call. Backend-neutral: a backend implements the three parts
// (e.g. sqlite_sessions.cpp, sqlite_runs.cpp, sqlite_dispatch.cpp over one shared connection)
// and its open function composes them. Private to src/store.
#pragma once

#include <memory>

#include "cppflue/store/store.hpp"

namespace cppflue::store_detail {

// All three must be non-null. The Store keeps them alive; their thread-safety is the Store's.
std::shared_ptr<Store> compose_store(std::shared_ptr<SessionStore> sessions,
                                     std::shared_ptr<RunStore> runs,
                                     std::shared_ptr<DispatchStore> dispatch);

}  // namespace cppflue::store_detail
