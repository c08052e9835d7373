// lb/core/version.h — the release version printed by `lb --version` and /stats.
#pragma once
#define LB_VERSION "0.1.0"
