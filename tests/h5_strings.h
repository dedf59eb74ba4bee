// Writing the string-list attributes of a Keras HDF5 file (`layer_names`,
// `weight_names`) as h5py 3 does: variable-length strings. Shared by the
// test-support library and the fuzz seeds (fuzz/make_seeds.cpp).
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include <hdf5.h>

namespace catdog::testing {

inline void write_string_attribute(hid_t object, const char* name, const std::vector<std::string>& values) {
  const hsize_t count = values.size();
  const hid_t space = H5Screate_simple(1, &count, nullptr);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  std::vector<const char*> pointers;
  for (const auto& value : values) pointers.push_back(value.c_str());
  const hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const bool written = attribute >= 0 && H5Awrite(attribute, type, pointers.data()) >= 0;
  if (attribute >= 0) H5Aclose(attribute);
  H5Tclose(type);
  H5Sclose(space);
  if (!written) throw std::runtime_error(std::string("cannot write the HDF5 attribute ") + name);
}

}  // namespace catdog::testing
