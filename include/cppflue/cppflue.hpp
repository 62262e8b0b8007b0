// SPDX-License-Identifier: Apache-2.0
// cppflue/cppflue.hpp — everything a CppFlue application needs:
//   init / Agent / Session / EventStream        (harness/agent.hpp)
//   Event, ToolDefinition, harness backends      (harness/event.hpp, tool.hpp, backend.hpp)
//   Message, ModelRequest, Usage, providers      (model/*.hpp)
//   Config, Runtime                              (core/config.hpp, runtime.hpp)
//   Error, Exception, Result                     (core/error.hpp)
#pragma once

#include "cppflue/client/client.hpp"
#include "cppflue/core/config.hpp"
#include "cppflue/core/dotenv.hpp"
#include "cppflue/core/error.hpp"
#include "cppflue/core/json.hpp"
#include "cppflue/core/runtime.hpp"
#include "cppflue/harness/agent.hpp"
#include "cppflue/harness/app.hpp"
#include "cppflue/harness/backend.hpp"
#include "cppflue/harness/event.hpp"
#include "cppflue/harness/project.hpp"
#include "cppflue/harness/tool.hpp"
#include "cppflue/model/message.hpp"
#include "cppflue/model/offline_model.hpp"
#include "cppflue/model/provider.hpp"
#include "cppflue/sandbox/jail.hpp"
#include "cppflue/sandbox/sandbox.hpp"
#include "cppflue/sandbox/workspace.hpp"
#include "cppflue/schema/extract.hpp"
#include "cppflue/schema/reflect.hpp"
#include "cppflue/schema/validator.hpp"
#include "cppflue/version.hpp"
