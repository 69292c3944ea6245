# OpenBLAS as the imported target PkgConfig::OPENBLAS: through pkg-config
# where that finds it, else from cblas.h and libopenblas found directly (a
# machine without pkg-config, or whose OpenBLAS ships no openblas.pc).
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(OPENBLAS QUIET IMPORTED_TARGET openblas)
endif()
if(NOT TARGET PkgConfig::OPENBLAS)
  # Debian and Ubuntu keep OpenBLAS in openblas-pthread/ under the
  # architecture's include and library folders.
  find_path(VAE_OPENBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas-pthread openblas)
  find_library(VAE_OPENBLAS_LIBRARY NAMES openblas PATH_SUFFIXES openblas-pthread openblas)
  if(NOT VAE_OPENBLAS_INCLUDE_DIR OR NOT VAE_OPENBLAS_LIBRARY)
    message(FATAL_ERROR "OpenBLAS not found (neither pkg-config's openblas nor cblas.h and "
                        "libopenblas): install libopenblas-dev, or set CMAKE_PREFIX_PATH")
  endif()
  add_library(PkgConfig::OPENBLAS INTERFACE IMPORTED)
  set_target_properties(PkgConfig::OPENBLAS PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${VAE_OPENBLAS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${VAE_OPENBLAS_LIBRARY}")
  message(STATUS "libvae: OpenBLAS without pkg-config: ${VAE_OPENBLAS_LIBRARY}")
endif()
