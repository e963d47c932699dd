# Finds civetweb without its Debian CMake config (which references files the package does
# not ship). Defines the imported target civetweb::civetweb.
find_path(civetweb_INCLUDE_DIR civetweb.h)
find_library(civetweb_LIBRARY NAMES civetweb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(civetweb REQUIRED_VARS civetweb_LIBRARY civetweb_INCLUDE_DIR)
if(civetweb_FOUND AND NOT TARGET civetweb::civetweb)
  add_library(civetweb::civetweb UNKNOWN IMPORTED)
  set_target_properties(civetweb::civetweb PROPERTIES
    IMPORTED_LOCATION "${civetweb_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${civetweb_INCLUDE_DIR}")
endif()
mark_as_advanced(civetweb_INCLUDE_DIR civetweb_LIBRARY)
