# cmake --install: the header, the shared library and a package config so
# that find_package(vae) gives the target vae::vae.
include(CMakePackageConfigHelpers)

install(TARGETS vae EXPORT vaeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/vae/vae.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vae)
install(EXPORT vaeTargets NAMESPACE vae:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vaeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/vaeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vaeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vaeConfig.cmake ${PROJECT_BINARY_DIR}/vaeConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)
