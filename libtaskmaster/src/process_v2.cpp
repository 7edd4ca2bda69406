// Boost.Process v2 is compiled here, once (BOOST_PROCESS_V2_SEPARATE_COMPILATION is set project-wide).
#include <boost/process/v2/src.hpp>
