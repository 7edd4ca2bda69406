// Included first by every internal header: internal headers describe the library's insides, which may
// change at any time, and must never reach an embedding program (libcamera's base/private.h does the same).
#pragma once

#ifndef TASKMASTER_BUILDING_LIBRARY
#error "taskmaster's internal headers are not part of its API: include <taskmaster/taskmaster.hpp> instead"
#endif
