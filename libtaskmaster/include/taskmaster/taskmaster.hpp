// The umbrella header: everything an embedding program needs.
#pragma once

#include <taskmaster/commands.hpp>
#include <taskmaster/config.hpp>
#include <taskmaster/control.hpp>
#include <taskmaster/error.hpp>
#include <taskmaster/events.hpp>
#include <taskmaster/hooks.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/metrics.hpp>
#include <taskmaster/output.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/subscription.hpp>
#include <taskmaster/supervisor.hpp>
#include <taskmaster/util.hpp>
#include <taskmaster/version.hpp>
#include <taskmaster/xmlrpc.hpp>
